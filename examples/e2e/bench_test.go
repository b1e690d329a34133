package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// p6Intervals reads the polling interval of every step of Protocol 6 whose
// adapter polls (with.until.interval), by step id.
func p6Intervals(tb testing.TB) map[string]time.Duration {
	b, err := os.ReadFile(filepath.Join(repoRoot, "protocols", "deployment.yaml"))
	require.NoError(tb, err)
	var doc struct {
		Phases []struct {
			Steps []struct {
				ID   string
				With struct {
					Until struct{ Interval string }
				}
			}
		}
	}
	require.NoError(tb, yaml.Unmarshal(b, &doc))
	out := map[string]time.Duration{}
	for _, ph := range doc.Phases {
		for _, s := range ph.Steps {
			if s.With.Until.Interval != "" {
				d, err := time.ParseDuration(s.With.Until.Interval)
				require.NoError(tb, err)
				out[s.ID] = d
			}
		}
	}
	return out
}

// runTimes reads a run's journal and returns the waits the protocol itself
// asked for — polling intervals actually waited (polls after the first ×
// interval; items of a fan-out poll side by side, so a step counts its
// longest item) and load-test durations — and the time spent inside
// adapter calls (every step and rollback, start to end: the outside
// world's time, those waits included).
func runTimes(tb testing.TB, dir, run string, intervals map[string]time.Duration) (waits, inAdapters time.Duration) {
	f, err := os.Open(filepath.Join(dir, ".protorun", "runs", run, "journal.jsonl"))
	require.NoError(tb, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var e struct {
			Kind string
			Data json.RawMessage
		}
		require.NoError(tb, json.Unmarshal(sc.Bytes(), &e))
		if e.Kind != "step-end" && e.Kind != "rollback" {
			continue
		}
		var rec struct {
			ID             string
			Status         string
			Started, Ended time.Time
			Items          []struct {
				Measurements map[string]any
			}
		}
		require.NoError(tb, json.Unmarshal(e.Data, &rec))
		if rec.Status == "skipped" {
			continue
		}
		inAdapters += rec.Ended.Sub(rec.Started)
		var longest time.Duration
		for _, it := range rec.Items {
			var w time.Duration
			if n, ok := it.Measurements["attempts"].(float64); ok && n > 1 {
				w += time.Duration(n-1) * intervals[rec.ID]
			}
			if ms, ok := it.Measurements["duration_ms"].(float64); ok && rec.ID == "performance-baseline" {
				w += time.Duration(ms * float64(time.Millisecond))
			}
			longest = max(longest, w)
		}
		waits += longest
	}
	require.NoError(tb, sc.Err())
	return waits, inAdapters
}

// BenchmarkSandboxHappyPath runs Protocol 6 end to end against the local
// sandbox — the CLI as child processes, both halts answered with
// `protorun status` + `protorun approve` + `protorun resume`, the Python
// scripts, the real deploys — and sets its wall time beside:
//
//   - waits: what the protocol itself asks to wait (polling intervals
//     actually waited, the load test's duration);
//   - in-adapters: all the time inside adapter calls (waits, the sandbox's
//     deploys, the scripts);
//
// reporting protorun's overhead as wall − in-adapters, in ms and as a
// percentage of the wall time, and the wall time over the waits. The
// sandbox comes up outside the timer. Use -benchtime 1x.
func BenchmarkSandboxHappyPath(b *testing.B) {
	intervals := p6Intervals(b)
	var wall, waits, inAdapters time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := newWorld(b, "1.0.0", "1.0.0")
		run := "bench-" + time.Now().Format("150405.000000")
		b.StartTimer()
		start := time.Now()
		out, code := w.deploy(run, "1.1.0", "")
		wall += time.Since(start)
		b.StopTimer()
		require.Equal(b, 0, code, out)
		wt, ia := runTimes(b, w.dir, run, intervals)
		waits += wt
		inAdapters += ia
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "s-wall")
	b.ReportMetric(waits.Seconds()/n, "s-waits")
	b.ReportMetric(inAdapters.Seconds()/n, "s-in-adapters")
	b.ReportMetric(float64(wall-inAdapters)/float64(time.Millisecond)/n, "ms-overhead")
	b.ReportMetric(100*float64(wall-inAdapters)/float64(wall), "%-overhead")
	b.ReportMetric(float64(wall)/float64(waits), "x-waits")
}
