package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPrometheusRules runs prometheus/rules_test.yml with promtool: the
// alerting rules fire on an -alerting and a -broken version, not on a good
// one nor once a rollback replaced the bad one, and -slow is a warning.
// Without promtool (Debian: apt-get install prometheus) the test is skipped,
// loudly; in CI (CI=true or PROTORUN_REQUIRE_PROMETHEUS) it fails.
func TestPrometheusRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool is not installed (Debian: apt-get install prometheus): the sandbox's alerting rules are not tested"
		if os.Getenv("CI") == "true" || os.Getenv("PROTORUN_REQUIRE_PROMETHEUS") != "" {
			t.Fatal(msg + ", and CI requires them")
		}
		fmt.Fprintln(os.Stderr, "sandbox: SKIPPED: "+msg)
		t.Skip(msg)
	}
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "rules_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
	}
}
