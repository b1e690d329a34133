package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The version command prints versionString: the module version and the Go
// version, from the binary's build information.
func TestVersionCommand(t *testing.T) {
	out, code := execute(t, "version")
	assert.Equal(t, 0, code)
	assert.Equal(t, versionString()+"\n", out)
	assert.True(t, strings.HasPrefix(out, "protorun "), out)
	assert.Contains(t, out, runtime.Version())
}

// A binary built from a git checkout names the commit it was built from
// (and -dirty for a tree with uncommitted changes); go install
// github.com/protorun/protorun/cmd/protorun@VERSION names VERSION instead.
func TestVersionOfABuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git: the build cannot stamp a commit")
	}
	if err := exec.Command("git", "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not a git checkout: the build cannot stamp a commit")
	}
	if top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output(); err == nil {
		if st, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err == nil && !st.IsDir() {
			// The go command looks for a .git directory: a linked worktree
			// (or a submodule), whose .git is a file, builds unstamped.
			t.Skip("a git worktree: the go command does not stamp builds made in one")
		}
	}
	bin := filepath.Join(t.TempDir(), "protorun")
	b, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(b))
	b, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, string(b))
	out := strings.TrimSpace(string(b))
	m := regexp.MustCompile(`^protorun (\S+) \(commit ([0-9a-f]{12})(-dirty)?, (go\S+)\)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "protorun version printed %q", out)
	assert.NotEmpty(t, m[1], "module version")
	assert.Equal(t, runtime.Version(), m[4])
	// The commit is one of this repository's (others may commit meanwhile,
	// so it need not be HEAD any more).
	assert.NoError(t, exec.Command("git", "cat-file", "-e", m[2]+"^{commit}").Run(), "commit %s is in the repository", m[2])
}

// `protorun --help` lists the commands; it is not the run command's help
// (the root passes its arguments through to run unparsed).
func TestRootHelpListsCommands(t *testing.T) {
	for _, flag := range []string{"--help", "-h"} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{flag})
		require.NoError(t, root.Execute())
		for _, want := range []string{"Available Commands:", "approve", "verify", "report"} {
			require.Contains(t, out.String(), want, flag)
		}
	}
}
