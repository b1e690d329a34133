package protocol_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protorun/protorun/engine/protocol"
)

// BenchmarkLoadDeployment parses and checks Protocol 6 from memory.
//
//	go test -run XXX -bench Load -benchtime 3x ./engine/
func BenchmarkLoadDeployment(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "..", "protocols", "deployment.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	opts := ltOptions()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protocol.Parse("deployment.yaml", data, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadGenerated parses and checks a generated valid protocol with
// n action steps in phases of 100, a blocking gate closing every tenth
// phase, and one approval halt before a protected deploy at the end. The
// YAML is compact (flow mappings, short ids). 50,000 steps is the most
// under the node bound (maxNodes; 100,000 steps is refused).
func BenchmarkLoadGenerated(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		data := blGenerate(n)
		if len(data) > protocol.MaxFileSize {
			b.Fatalf("steps=%d: generated %d bytes, over MaxFileSize", n, len(data))
		}
		opts := ltOptions()
		// Once outside the timer: the protocol must be valid.
		p, err := protocol.Parse("generated.yaml", data, opts)
		if err != nil {
			b.Fatalf("steps=%d: %v", n, err)
		}
		actions := 0
		for _, s := range p.Plan().Steps {
			if s.Kind() == "action" {
				actions++
			}
		}
		if actions != n {
			b.Fatalf("steps=%d: generated %d actions", n, actions)
		}
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := protocol.Parse("generated.yaml", data, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// blGenerate writes a valid protocol with n action steps.
func blGenerate(n int) []byte {
	const perPhase = 100
	var b bytes.Buffer
	b.WriteString(`protorun: v1
id: generated
title: Generated
vars:
  version: {default: "1.0"}
environments:
  staging:
    with: {url: "http://staging.example"}
  production:
    protected: true
    with: {url: "http://production.example"}
messages:
  approve: "Deploy {vars.version} to production?"
  failed: "Step {step} failed: {error}"
phases:
`)
	step := 0
	for ph := 0; step < n-1; ph++ {
		fmt.Fprintf(&b, "- id: p%d\n  title: Phase %d\n  steps:\n", ph, ph)
		for i := 0; i < perPhase && step < n-1; i++ {
			step++
			switch {
			case step%20 == 0:
				fmt.Fprintf(&b, "  - {id: a%d, adapter: http, targets: [staging, production], error: failed, with: {url: \"{env.url}/a/%d\"}}\n", step, step)
			case step%20 == 10:
				fmt.Fprintf(&b, "  - {id: a%d, adapter: fake, level: guideline, when: \"vars.version != ''\"}\n", step)
			default:
				fmt.Fprintf(&b, "  - {id: a%d, adapter: fake}\n", step)
			}
		}
		if ph%10 == 9 {
			fmt.Fprintf(&b, "  - {id: g%d, gate: {title: Gate %d, on_fail: halt, criteria: [{name: last step, expr: steps.a%d.passed}]}}\n", ph, ph, step)
		}
	}
	b.WriteString(`- id: release
  title: Release
  steps:
  - {id: approval, halt: {kind: approval, prompt: approve}}
  - id: deploy
    targets: [production]
    deploy: true
    adapter: http
    with: {url: "{env.url}/deploy", method: POST}
    rollback: {adapter: http, with: {url: "{env.url}/rollback", method: POST}}
`)
	return b.Bytes()
}

// BenchmarkLoadWideMapping parses and checks a protocol with n keys in one
// mapping, in the places a hostile file would put them: unknown keys at the
// top level, vars, messages, a step's with:, an environment's with:, a
// mapping nested inside a with: value, and duplicated keys. Each must be
// refused with a positioned error or loaded, in time and memory that grow
// linearly with n (yaml.v3's decoder checks a mapping's keys for
// duplicates pair by pair: 100,000 keys took 35 s).
//
//	go test -run '^$' -bench LoadWideMapping -benchmem -count 3 ./engine/
func BenchmarkLoadWideMapping(b *testing.B) {
	for _, shape := range blWideShapes {
		for _, n := range []int{10000, 50000, 100000} {
			data := blWide(shape, n)
			if len(data) > protocol.MaxFileSize {
				b.Fatalf("%s/keys=%d: generated %d bytes, over MaxFileSize", shape, n, len(data))
			}
			opts := ltOptions()
			b.Run(fmt.Sprintf("%s/keys=%d", shape, n), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					_, _ = protocol.Parse("wide.yaml", data, opts)
				}
			})
		}
	}
}

var blWideShapes = []string{"toplevel", "vars", "badnames", "messages", "with", "params", "envwith", "nested", "stepkeys", "duplicate"}

// blWide writes a small valid protocol with n keys added to one mapping,
// chosen by shape (see BenchmarkLoadWideMapping).
func blWide(shape string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("protorun: v1\nid: wide\ntitle: Wide\n")
	if shape == "toplevel" {
		for i := range n {
			fmt.Fprintf(&b, "x%d: 1\n", i)
		}
	}
	b.WriteString("vars:\n  version: {default: \"1.0\"}\n")
	switch shape {
	case "vars":
		for i := range n {
			fmt.Fprintf(&b, "  v%d: {default: %d}\n", i, i)
		}
	case "badnames": // every name refused by the schema
		for i := range n {
			fmt.Fprintf(&b, "  -v%d: {default: %d}\n", i, i)
		}
	}
	b.WriteString("environments:\n  staging:\n    with:\n      url: http://staging.example\n")
	if shape == "envwith" {
		for i := range n {
			fmt.Fprintf(&b, "      k%d: %d\n", i, i)
		}
	}
	b.WriteString("messages:\n  hello: Hello\n")
	if shape == "messages" {
		for i := range n {
			fmt.Fprintf(&b, "  m%d: text %d\n", i, i)
		}
	}
	b.WriteString("phases:\n- id: p\n  title: P\n  steps:\n  - id: a\n")
	switch shape {
	case "params": // every key an unknown parameter of http
		b.WriteString("    adapter: http\n    with:\n      url: http://x\n")
		for i := range n {
			fmt.Fprintf(&b, "      k%d: %d\n", i, i)
		}
		return b.Bytes()
	case "stepkeys": // every key unknown in a step
		for i := range n {
			fmt.Fprintf(&b, "    k%d: %d\n", i, i)
		}
	}
	b.WriteString("    adapter: fake\n    with:\n      url: http://x\n")
	switch shape {
	case "with":
		for i := range n {
			fmt.Fprintf(&b, "      k%d: %d\n", i, i)
		}
	case "nested":
		b.WriteString("      body:\n        deep:\n")
		for i := range n {
			fmt.Fprintf(&b, "          k%d: %d\n", i, i)
		}
	case "duplicate":
		for range n {
			b.WriteString("      url: http://x\n")
		}
	}
	return b.Bytes()
}

// loadShapeEnv tells a re-executed test binary to parse one file of
// blFull's shape and exit: BenchmarkLoadPeakRSS reads the child's peak
// RSS from the kernel.
const loadShapeEnv = "PROTORUN_BENCH_LOAD_SHAPE"

// blFullShapes are files as large as MaxFileSize allows: the wide
// mappings of BenchmarkLoadWideMapping, a protocol of 100,000 steps, and
// lists of every node kind yaml.v3 makes cheapest (refused before or after
// parsing for their node count, or loaded).
var blFullShapes = append(slices.Clone(blWideShapes), "steps50k", "steps100k", "flowlist", "flowkeys", "blocklist")

// blFull writes the largest file of shape under MaxFileSize.
func blFull(shape string) []byte {
	var b bytes.Buffer
	head := "protorun: v1\nid: n\ntitle: N\nphases:\n- id: p\n  title: P\n  steps:\n  - id: a\n    adapter: fake\n    with:\n"
	switch shape {
	case "steps50k":
		return blGenerate(50000)
	case "steps100k":
		return blGenerate(100000)
	case "flowlist": // 2 million items
		b.WriteString(head + "      x: [")
		for b.Len() < protocol.MaxFileSize-4 {
			b.WriteString("1,")
		}
		b.WriteString("1]\n")
		return b.Bytes()
	case "flowkeys": // keys without values: two nodes each
		b.WriteString(head + "      x: {")
		for i := 0; b.Len() < protocol.MaxFileSize-16; i++ {
			fmt.Fprintf(&b, "k%d,", i)
		}
		b.WriteString("}\n")
		return b.Bytes()
	case "blocklist":
		b.WriteString(head + "      x:\n")
		for b.Len() < protocol.MaxFileSize-10 {
			b.WriteString("      - 1\n")
		}
		return b.Bytes()
	}
	// Keys of six digits from 100,000 on: as many as fit.
	base, per := len(blWide(shape, 100000)), (len(blWide(shape, 200000))-len(blWide(shape, 100000)))/100000
	n := 100000 + (protocol.MaxFileSize-base)/(per+1)
	data := blWide(shape, n)
	for len(data) > protocol.MaxFileSize {
		n -= 1000
		data = blWide(shape, n)
	}
	return data
}

// TestLoadRSSChild is the child of BenchmarkLoadPeakRSS; it does nothing
// unless the benchmark started it.
func TestLoadRSSChild(t *testing.T) {
	shape := os.Getenv(loadShapeEnv)
	if shape == "" {
		t.Skip("only as the child of BenchmarkLoadPeakRSS")
	}
	data := blFull(shape)
	runtime.GC() // the generator's garbage is not the load's
	start := time.Now()
	_, err := protocol.Parse("full.yaml", data, ltOptions())
	elapsed := time.Since(start)
	result := "loaded"
	if err != nil {
		result = "refused"
	}
	fmt.Printf("%s%s %d %d\n", loadResultPrefix, result, len(data), elapsed.Microseconds())
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(b)) {
			if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				fmt.Printf("%s%s\n", hwmPrefix, strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")))
			}
		}
	}
}

const loadResultPrefix = "protorun-bench-load="

// hwmPrefix marks the child's line with its peak RSS in KiB.
const hwmPrefix = "protorun-bench-vmhwm-kb="

// BenchmarkLoadPeakRSS parses, in a child process each, a file as large
// as MaxFileSize allows in each hostile shape (blFull), and reports the
// child's peak RSS (VmHWM, the test binary's own floor included: ~15 MB),
// the time of Parse alone (parse-ms; ns/op also counts the child's start
// and the generation of the file), the file's size and whether it loaded.
//
//	go test -run '^$' -bench LoadPeakRSS -benchtime 1x ./engine/
func BenchmarkLoadPeakRSS(b *testing.B) {
	for _, shape := range blFullShapes {
		b.Run(shape, func(b *testing.B) {
			var peak, size, parseUS int64
			result := ""
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestLoadRSSChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), loadShapeEnv+"="+shape)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, out)
				}
				kb := int64(-1)
				for line := range strings.Lines(string(out)) {
					line = strings.TrimSpace(line)
					if v, ok := strings.CutPrefix(line, hwmPrefix); ok {
						kb, _ = strconv.ParseInt(v, 10, 64)
					}
					if v, ok := strings.CutPrefix(line, loadResultPrefix); ok {
						var us int64
						_, _ = fmt.Sscanf(v, "%s %d %d", &result, &size, &us)
						parseUS = max(parseUS, us)
					}
				}
				if kb < 0 {
					b.Skip("no /proc/self/status VmHWM on this platform")
				}
				peak = max(peak, kb)
			}
			b.ReportMetric(float64(peak)/1024, "peak-rss-MB")
			b.ReportMetric(float64(parseUS)/1000, "parse-ms")
			b.ReportMetric(float64(size)/(1<<20), "file-MiB")
			if result == "loaded" {
				b.ReportMetric(1, "loaded")
			} else {
				b.ReportMetric(0, "loaded")
			}
		})
	}
}
