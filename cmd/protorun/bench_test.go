package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkValidateProcess runs `protorun validate protocols/deployment.yaml`
// as a whole process, startup included, beside the floor of starting any
// process at all (`true`, found on PATH). The binary is built once, outside
// the timer. Target: validate under 20 ms.
func BenchmarkValidateProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "protorun")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	protocol, err := filepath.Abs(filepath.Join("..", "..", "protocols", "deployment.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no `true` on PATH for the reference")
	}
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"validate", []string{bin, "validate", protocol}},
		{"true", []string{truePath}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
				cmd.Env = append(os.Environ(), "NO_COLOR=1")
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%s", tc.argv, err, out)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/exec")
		})
	}
}
