package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/protorun/protorun/adapters"
	httpadapter "github.com/protorun/protorun/adapters/http"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
)

// fanoutProtocol checks n environments with one http step at concurrency c.
func fanoutProtocol(urls []string, concurrency int) string {
	var b strings.Builder
	b.WriteString("protorun: v1\nid: fanout\ntitle: Fan-out\nenvironments:\n")
	targets := make([]string, len(urls))
	for i, u := range urls {
		fmt.Fprintf(&b, "  e%d:\n    with: {url: %q}\n", i, u)
		targets[i] = fmt.Sprintf("e%d", i)
	}
	fmt.Fprintf(&b, "phases:\n  - id: p\n    title: P\n    steps:\n      - id: check\n        targets: [%s]\n        concurrency: %d\n        adapter: http\n        with: {url: \"{env.url}\", timeout: 5s}\n",
		strings.Join(targets, ", "), concurrency)
	return b.String()
}

// BenchmarkFanout200 runs 200 HTTP checks against 200 endpoints (each its
// own server on 127.0.0.1) that each answer after 50 ms, through the
// engine's fan-out at concurrency 200 and, beside it, in series. Target: the
// parallel run within 1.3× of one call (the x50ms metric).
//
// pool=warm hands the engine one adapter set for every run, as an embedder
// does: connections are reused across runs. pool=cold makes a new http
// adapter per run, as each `protorun` process does: every run dials 200
// connections.
//
//	go test -run '^$' -bench Fanout200 -benchtime 20x ./engine/
func BenchmarkFanout200(b *testing.B) {
	urls := make([]string, 200)
	for i := range urls {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(50 * time.Millisecond)
			w.Write([]byte("ok"))
		}))
		defer srv.Close()
		urls[i] = srv.URL + "/health"
	}
	for _, c := range []int{200, 1} {
		for _, pool := range []string{"warm", "cold"} {
			if c == 1 && pool == "cold" {
				continue // 10 s a run; dialing is noise beside it
			}
			b.Run(fmt.Sprintf("concurrency=%d/pool=%s", c, pool), func(b *testing.B) {
				set := adapters.Set{"http": httpadapter.New()}
				defer set.Close()
				p, err := protocol.Parse("fanout.yaml", []byte(fanoutProtocol(urls, c)), &protocol.LoadOptions{Adapters: set})
				if err != nil {
					b.Fatal(err)
				}
				run := func(set adapters.Set) {
					res, err := engine.Start(context.Background(), p, engine.Options{Adapters: set, NoEvidence: true})
					if err != nil || res.Status != engine.StatusCompleted {
						b.Fatalf("%v %+v", err, res)
					}
				}
				if pool == "warm" {
					run(set) // fill the pool outside the timer
				}
				b.ResetTimer()
				for b.Loop() {
					if pool == "cold" {
						fresh := adapters.Set{"http": httpadapter.New()}
						run(fresh)
						fresh.Close()
						continue
					}
					run(set)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/50000, "x50ms")
			})
		}
	}
}
