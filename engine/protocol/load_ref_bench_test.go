package protocol_test

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// BenchmarkLoadDeploymentYAMLOnly is the reference beside
// BenchmarkLoadDeployment: yaml.v3 parsing Protocol 6 into a node tree and
// nothing else. Load can never be faster than this; the difference between
// the two is protorun's own cost (schema, decode, semantic checks).
//
//	go test -run '^$' -bench 'LoadDeployment' ./engine/
func BenchmarkLoadDeploymentYAMLOnly(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "..", "protocols", "deployment.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			b.Fatal(err)
		}
	}
}
