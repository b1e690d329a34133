package engine_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store"
)

// rssStepsEnv tells a re-executed test binary to do one run of a generated
// protocol of that many steps and exit: BenchmarkPeakRSS reads the child's
// peak RSS from the kernel.
const rssStepsEnv = "PROTORUN_BENCH_RSS_STEPS"

// TestRSSChild is the child of BenchmarkPeakRSS; it does nothing unless
// the benchmark started it.
func TestRSSChild(t *testing.T) {
	s := os.Getenv(rssStepsEnv)
	if s == "" {
		t.Skip("only as the child of BenchmarkPeakRSS")
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	p := benchProtocol(t, n)
	res, err := engine.Start(context.Background(), p, engine.Options{
		Adapters: adapters.Set{"noop": noopAdapter{}}, Store: store.NewMemory(),
		NoEvidence: true, Dir: t.TempDir(), Identity: "bench", Getenv: func(string) string { return "" },
	})
	if err != nil || res.Status != engine.StatusCompleted {
		t.Fatalf("run: %v %+v", err, res)
	}
	// The child's own high-water mark: ru_maxrss of a child is no good
	// here, as Linux carries the parent's over into a vfork'd child.
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(b)) {
			if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				fmt.Printf("%s%s\n", hwmPrefix, strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")))
			}
		}
	}
}

// hwmPrefix marks the child's line with its peak RSS in KiB.
const hwmPrefix = "protorun-bench-vmhwm-kb="

// BenchmarkPeakRSS runs, in a child process each, one run of a generated
// protocol of 10,000 no-op steps (parse, check and run, journal kept in a
// MemoryStore, so the whole journal stays in the process) beside the same
// for a 1-step protocol: the floor of the test binary itself. It reports
// the child's peak RSS (VmHWM, read by the child itself at its end).
// Target: under 100 MB.
func BenchmarkPeakRSS(b *testing.B) {
	for _, n := range []int{10000, 1} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			var peak int64
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", rssStepsEnv, n))
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, out)
				}
				kb := int64(-1)
				for line := range strings.Lines(string(out)) {
					if v, ok := strings.CutPrefix(strings.TrimSpace(line), hwmPrefix); ok {
						kb, _ = strconv.ParseInt(v, 10, 64)
					}
				}
				if kb < 0 {
					b.Skip("no /proc/self/status VmHWM on this platform")
				}
				peak = max(peak, kb)
			}
			b.ReportMetric(float64(peak)/1024, "peak-rss-MB")
		})
	}
}

// repeatedRuns runs Protocol 6 n times in this process, as an embedder
// would (one loaded protocol, a new MemoryStore per run), and returns the
// heap in use after GC once `at` runs are done and after all n.
func repeatedRuns(tb testing.TB, at, n int) (heapAt, heapEnd uint64, goroutinesAt, goroutinesEnd int) {
	tb.Helper()
	p, inputs := p6Setup(tb)
	dir := tb.TempDir()
	inUse := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	for i := 1; i <= n; i++ {
		res, err := engine.Start(context.Background(), p, p6Options(dir, inputs, false))
		if err != nil || res.Status != engine.StatusCompleted {
			tb.Fatalf("run %d: %v %+v", i, err, res)
		}
		if i == at {
			heapAt, goroutinesAt = inUse(), runtime.NumGoroutine()
		}
	}
	return heapAt, inUse(), goroutinesAt, runtime.NumGoroutine()
}

// TestNoGrowthAcrossRuns: 1,000 consecutive runs in one process leave the
// heap where 100 runs left it (within 2 MB) and start no goroutine that
// outlives its run. A memory bound, not a timing one.
func TestNoGrowthAcrossRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 runs")
	}
	at, end, gAt, gEnd := repeatedRuns(t, 100, 1000)
	t.Logf("heap in use after run 100: %.2f MB, after run 1000: %.2f MB; goroutines %d → %d",
		float64(at)/(1<<20), float64(end)/(1<<20), gAt, gEnd)
	if end > at && end-at > 2<<20 {
		t.Errorf("heap grew by %.2f MB between run 100 and run 1000", float64(end-at)/(1<<20))
	}
	if gEnd > gAt {
		t.Errorf("goroutines grew from %d to %d", gAt, gEnd)
	}
}

// BenchmarkRepeatedRuns reports the heap in use after GC following run 100
// and run 1,000 of Protocol 6 in one process, and the growth between them.
// Each iteration is 1,000 runs: use -benchtime 1x.
func BenchmarkRepeatedRuns(b *testing.B) {
	var at, end uint64
	for b.Loop() {
		at, end, _, _ = repeatedRuns(b, 100, 1000)
	}
	b.ReportMetric(float64(at)/(1<<20), "heap-MB@100")
	b.ReportMetric(float64(end)/(1<<20), "heap-MB@1000")
	b.ReportMetric((float64(end)-float64(at))/(1<<10), "growth-KB")
}
