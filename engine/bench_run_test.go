package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/looplab/fsm"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// benchSteps is the number of steps of the generated protocol.
const benchSteps = 200

// noopAdapter passes at once.
type noopAdapter struct{}

func (noopAdapter) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed}, nil
}

// benchProtocol generates a protocol of n action steps in phases of ten.
func benchProtocol(b testing.TB, n int) *protocol.Protocol {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("protorun: v1\nid: bench\ntitle: Bench\nartifacts: .artifacts/bench\nphases:\n")
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&sb, "  - id: phase-%d\n    title: Phase %d\n    steps:\n", i/10, i/10)
		}
		fmt.Fprintf(&sb, "      - id: step-%d\n        adapter: noop\n        with: {n: %d}\n        evidence: .artifacts/bench/step-%d.json\n", i, i, i)
	}
	p, err := protocol.Parse("bench.yaml", []byte(sb.String()), &protocol.LoadOptions{Adapters: adapters.Set{"noop": noopAdapter{}}})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkStepOverhead measures what the engine adds around an adapter
// call: journal, events, evidence, the state machine. The journal is a
// MemoryStore: evidence=on adds the evidence files' fsyncs only. It reports
// ns/step and x-fsm-event, its ratio to one raw looplab/fsm Event timed in
// the same run. Target: at most 25 µs a step with evidence off.
func BenchmarkStepOverhead(b *testing.B) {
	p := benchProtocol(b, benchSteps)
	for _, evidence := range []bool{false, true} {
		b.Run(fmt.Sprintf("evidence=%s", map[bool]string{false: "off", true: "on"}[evidence]), func(b *testing.B) {
			dir := b.TempDir()
			b.ReportAllocs()
			for b.Loop() {
				res, err := engine.Start(context.Background(), p, engine.Options{
					Adapters: adapters.Set{"noop": noopAdapter{}}, Store: store.NewMemory(),
					NoEvidence: !evidence, Dir: dir, Identity: "bench", Getenv: func(string) string { return "" },
				})
				if err != nil || res.Status != engine.StatusCompleted {
					b.Fatalf("run: %v %+v", err, res)
				}
			}
			perStep := float64(b.Elapsed().Nanoseconds()) / float64(b.N*benchSteps)
			b.ReportMetric(perStep, "ns/step")
			b.ReportMetric(perStep/rawFSMEventNS(), "x-fsm-event")
		})
	}
}

// rawFSMEventNS times one raw looplab/fsm Event (two states), beside the
// step overhead in the same run: the x-fsm-event ratio divides by it.
func rawFSMEventNS() float64 {
	m := fsm.NewFSM("a", fsm.Events{
		{Name: "toggle", Src: []string{"a"}, Dst: "b"},
		{Name: "toggle", Src: []string{"b"}, Dst: "a"},
	}, fsm.Callbacks{})
	const n = 200000
	start := time.Now()
	for range n {
		if err := m.Event(context.Background(), "toggle"); err != nil {
			panic(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / n
}

// BenchmarkRawFSMEvent is the floor: one looplab/fsm event, two states.
func BenchmarkRawFSMEvent(b *testing.B) {
	m := fsm.NewFSM("a", fsm.Events{
		{Name: "toggle", Src: []string{"a"}, Dst: "b"},
		{Name: "toggle", Src: []string{"b"}, Dst: "a"},
	}, fsm.Callbacks{})
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Event(context.Background(), "toggle"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDryRunDeployment runs protocols/deployment.yaml as a dry run,
// in-process, without evidence.
func BenchmarkDryRunDeployment(b *testing.B) {
	p, err := protocol.Load(filepath.Join("..", "protocols", "deployment.yaml"),
		&protocol.LoadOptions{Adapters: rtLoadSet("tcp", "http", "exec", "notify", "prometheus")})
	if err != nil {
		b.Fatal(err)
	}
	inputs := b.TempDir()
	for _, f := range []string{"quality-audit.json", "coverage.json", "security-scan.json"} {
		data, err := os.ReadFile(filepath.Join("..", "examples", "protocol-4", f))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inputs, f), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		res, err := engine.Start(context.Background(), p, engine.Options{
			DryRun: true, NoEvidence: true, Store: store.NewMemory(), Dir: dir, Identity: "bench",
			Vars: map[string]string{"inputs_dir": inputs}, Getenv: func(string) string { return "" },
		})
		if err != nil || res.Status != engine.StatusCompleted {
			b.Fatalf("run: %v %+v", err, res)
		}
	}
}
