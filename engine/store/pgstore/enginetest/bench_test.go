package enginetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
	"github.com/protorun/protorun/engine/store/pgstore"
	"github.com/protorun/protorun/internal/pgtest"
)

// noop passes at once.
type noop struct{}

func (noop) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed}, nil
}

// twentySteps is a protocol of 20 fake-adapter steps.
func twentySteps(b *testing.B) *protocol.Protocol {
	var sb strings.Builder
	sb.WriteString("protorun: v1\nid: bench\ntitle: Bench\nphases:\n  - id: all\n    title: All\n    steps:\n")
	for i := range 20 {
		fmt.Fprintf(&sb, "      - id: s%d\n        adapter: noop\n        with: {n: %d}\n", i, i)
	}
	p, err := protocol.Parse("bench.yaml", []byte(sb.String()), &protocol.LoadOptions{Adapters: adapters.Set{"noop": noop{}}})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkRuns runs a 20-step protocol b.N times, spread over procs
// drivers that each have their own store (with its leases) (their own connections, as
// processes on different machines would; for the file store, one state
// directory), and reports runs/s and journal entries appended per second. The PostgreSQL
// figures depend on the server's durability settings: the test server
// (scripts/pg-test-server) runs without fsync unless started with
// --durable; BENCHMARKS.md says which.
func BenchmarkRuns(b *testing.B) {
	p := twentySteps(b)
	for _, kind := range []string{"file", "pg"} {
		for _, procs := range []int{1, 8} {
			b.Run(fmt.Sprintf("store=%s/procs=%d", kind, procs), func(b *testing.B) {
				dir, url := b.TempDir(), ""
				if kind == "pg" {
					url = pgtest.DB(b) // one database, shared by the drivers
				}
				stores := make([]store.Store, procs)
				for i := range stores {
					var s store.Store
					if kind == "file" {
						s = filestore.New(dir)
					} else {
						ps, err := pgstore.Open(context.Background(), url)
						if err != nil {
							b.Fatal(err)
						}
						b.Cleanup(ps.Close)
						s = ps
					}
					stores[i] = s
				}
				var next atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for i := range procs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
							res, err := engine.Start(context.Background(), p, engine.Options{
								Adapters: adapters.Set{"noop": noop{}}, Store: stores[i], NoEvidence: true,
								RunID: fmt.Sprintf("b%d-%d", procs, n), Identity: "bench", Getenv: func(string) string { return "" }})
							if err != nil || res.Status != engine.StatusCompleted {
								b.Errorf("run: %v", err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				secs := b.Elapsed().Seconds()
				entries := 0
				for n := 1; n <= b.N; n++ {
					_, es, err := stores[0].Load(context.Background(), fmt.Sprintf("b%d-%d", procs, n))
					if err != nil {
						b.Fatal(err)
					}
					entries += len(es)
				}
				b.ReportMetric(float64(b.N)/secs, "runs/s")
				b.ReportMetric(float64(entries)/secs, "entries/s")
			})
		}
	}
}
