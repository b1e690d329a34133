package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// p6Fake is an instant adapter for Protocol 6: every call passes at once;
// the performance baseline reports a p95 so its gate has a number to read.
type p6Fake struct{}

func (p6Fake) Run(_ context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req.Step == "performance-baseline" {
		return &adapters.Result{Status: adapters.Passed, Message: "ok", Measurements: map[string]any{"p95_ms": 12.5}}, nil
	}
	if req.Step == "production-p95" { // with prometheus_url: Prometheus' p95, in seconds
		return &adapters.Result{Status: adapters.Passed, Message: "ok", Measurements: map[string]any{"value": 0.0125, "finite": true}}, nil
	}
	return &adapters.Result{Status: adapters.Passed, Message: "ok"}, nil
}

// Effect implements adapters.Effecter: the fake touches nothing.
func (p6Fake) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }

// p6Yes approves every halt at the "terminal", with a change ticket as
// the reason a protected deploy's approval needs.
type p6Yes struct{}

func (p6Yes) Ask(_ context.Context, q string) (string, error) {
	if strings.HasPrefix(q, "Reason for approving ") {
		return "CHG-1", nil
	}
	return "yes", nil
}

func p6Set() adapters.Set {
	return adapters.Set{"tcp": p6Fake{}, "http": p6Fake{}, "exec": p6Fake{}, "notify": p6Fake{}, "prometheus": p6Fake{}}
}

// p6Setup loads protocols/deployment.yaml and copies the Protocol 4 inputs
// into a directory the run reads them from.
func p6Setup(tb testing.TB) (*protocol.Protocol, string) {
	tb.Helper()
	p, err := protocol.Load(filepath.Join("..", "protocols", "deployment.yaml"), &protocol.LoadOptions{Adapters: p6Set()})
	if err != nil {
		tb.Fatal(err)
	}
	inputs := tb.TempDir()
	for _, f := range []string{"quality-audit.json", "coverage.json", "security-scan.json"} {
		data, err := os.ReadFile(filepath.Join("..", "examples", "protocol-4", f))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inputs, f), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return p, inputs
}

// p6Options are the options of one whole Protocol 6 run against instant
// fakes: durable (file store journal, evidence, report) or in memory.
func p6Options(dir, inputs string, durable bool) engine.Options {
	opts := engine.Options{Adapters: p6Set(), Prompter: p6Yes{}, Identity: "bench", Dir: dir,
		Vars: map[string]string{"inputs_dir": inputs}, Getenv: func(string) string { return "" }}
	if durable {
		opts.Store = filestore.New(filepath.Join(dir, ".protorun"))
	} else {
		opts.Store = store.NewMemory()
		opts.NoEvidence = true
	}
	return opts
}

// BenchmarkProtocol6Run runs protocols/deployment.yaml from start to end
// (halts answered yes at a prompter) against instant fake adapters:
//
//   - durable: the CLI's setup — a FileStore journal (fsync per Append),
//     evidence, baseline and report files written atomically;
//   - memory: the reference — MemoryStore, no evidence: the engine alone.
//
// It reports the time per run and per state ("step": every state the run
// passes through, halts and gates included) and the fsyncs per run and per
// step, counted where the engine calls fsync.
func BenchmarkProtocol6Run(b *testing.B) {
	p, inputs := p6Setup(b)
	for _, durable := range []bool{true, false} {
		name := map[bool]string{true: "durable", false: "memory"}[durable]
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			opts := p6Options(dir, inputs, durable)
			steps := 0
			f0 := engine.Fsyncs()
			b.ReportAllocs()
			for b.Loop() {
				res, err := engine.Start(context.Background(), p, opts)
				if err != nil || res.Status != engine.StatusCompleted {
					b.Fatalf("run: %v %+v", err, res)
				}
				steps += len(res.Path)
			}
			fs := float64(engine.Fsyncs() - f0)
			b.ReportMetric(fs/float64(b.N), "fsyncs/run")
			b.ReportMetric(fs/float64(steps), "fsyncs/step")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
		})
	}
}
