package protocol_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/protorun/protorun/engine/protocol"
)

// effectsHeavyProtocol is the shape a hostile author used to make the
// effects check slow: an environment with 20 services and a 100 KB
// binding beside a protected one, and steps that fan out over every service, each with
// parameters that fill {env.big} in 30 times (3 MB a call, under what one
// call may hold), in a file of about 300 KB.
func effectsHeavyProtocol(steps int) string {
	var b strings.Builder
	b.WriteString("protorun: v1\nid: heavy\ntitle: Heavy\nenvironments:\n  staging:\n    with:\n      admin: \"http://127.0.0.1:18081\"\n      big: " + strings.Repeat("a", 100<<10) + "\n    services:\n")
	for i := range 20 {
		fmt.Fprintf(&b, "      - {name: s%d, url: \"http://10.0.0.%d:8080\"}\n", i, i)
	}
	b.WriteString("  production:\n    protected: true\n    with:\n      admin: \"http://127.0.0.1:18091\"\n      context: prod-cluster\n    services:\n")
	for i := range 20 {
		fmt.Fprintf(&b, "      - {name: s%d, url: \"http://10.1.0.%d:8080\"}\n", i, i)
	}
	b.WriteString("phases:\n  - id: p\n    title: P\n    steps:\n")
	argv := strings.Repeat(`"x{env.big}", `, 30)
	for i := range steps {
		fmt.Fprintf(&b, "      - {id: s%d, targets: [staging], foreach: service, adapter: exec, effect: mutating, with: {argv: [tool, %send]}}\n", i, argv)
	}
	return b.String()
}

// BenchmarkEffectsHeavy loads effectsHeavyProtocol: how long the effects
// check may take on a file built to make it slow (it refuses the file).
//
//	go test -run '^$' -bench EffectsHeavy -benchtime 3x ./engine/protocol
func BenchmarkEffectsHeavy(b *testing.B) {
	data := []byte(effectsHeavyProtocol(50))
	opts := ltOptions()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protocol.Parse("heavy.yaml", data, opts); err == nil || !strings.Contains(err.Error(), "the effects check stops here") {
			b.Fatalf("want the effects check to stop, got %v", err)
		}
	}
}
