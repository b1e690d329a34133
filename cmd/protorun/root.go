package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "protorun [FILE]",
		Short: "Run operational protocols written in YAML",
		Long: `protorun runs operational protocols written in YAML as state machines:
phases of steps, quality gates, halts for a human decision, JSON evidence
and automatic rollback.

  protorun protocols/deployment.yaml        run a protocol (same as 'protorun run')
  protorun validate protocols/*.yaml        check protocol files, every error at file:line:col
  protorun graph protocols/deployment.yaml  the protocol's flow as a Mermaid chart

  protorun -C DIR COMMAND ...               run as if started in DIR (like git -C)

Relative paths in a protocol resolve from its root (root: in the file,
relative to the file; default the file's directory), not from the current
directory: a run does the same from anywhere.

Exit codes: 0 completed (with warnings or not); 1 failed, everything rolled
back; 2 invalid input or usage; 3 halted, awaiting an approval or a
confirmation; 4 failed and a rollback failed or is incomplete, or deploys
were left in place (needs a human); 5 halted on a failure, awaiting a
decision.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
				return cmd.Help() // flags reach here unparsed: the root's own help
			}
			if err := notACommand(cmd, args[0]); err != nil {
				return err
			}
			run := newRunCmd()
			run.SetArgs(args)
			run.SetOut(cmd.OutOrStdout())
			run.SetErr(cmd.ErrOrStderr())
			// main prints the error once; cobra must not print it (or the usage) too.
			run.SilenceErrors, run.SilenceUsage = true, true
			return run.Execute()
		},
		DisableFlagParsing:         true,
		SuggestionsMinimumDistance: 2,
	}
	root.AddCommand(newValidateCmd(), newGraphCmd(), newVersionCmd(), newRunCmd(), newAdaptersCmd(),
		newDecideCmd(true), newDecideCmd(false), newResumeCmd(), newAbortCmd(), newAbandonCmd(), newRunsCmd(), newStatusCmd(), newLogsCmd())
	root.AddCommand(newReportCmd())
	root.AddCommand(newVerifyCmd())
	root.AddCommand(newStoreCmd())
	return withCompletions(root)
}

// notACommand refuses an argument that names no file and does not look like
// a protocol path (no directory, no .yaml or .yml): a mistyped command such
// as "valdate", not a protocol to run.
func notACommand(root *cobra.Command, arg string) error {
	if strings.HasPrefix(arg, "-") || strings.ContainsRune(arg, filepath.Separator) || strings.ContainsRune(arg, '/') {
		return nil
	}
	if ext := strings.ToLower(filepath.Ext(arg)); ext == ".yaml" || ext == ".yml" {
		return nil
	}
	if _, err := os.Lstat(arg); !errors.Is(err, fs.ErrNotExist) {
		return nil // a file (or something run will report on)
	}
	hint := "; to run a protocol, give its file's path"
	if s := root.SuggestionsFor(arg); len(s) > 0 {
		hint = fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return fmt.Errorf("unknown command %q for %q%s", arg, root.Name(), hint)
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print protorun's module version and commit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			if !human(output) {
				return writeData(cmd.OutOrStdout(), output, buildVersion(), "")
			}
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output: table, wide, json or yaml")
	return cmd
}

func versionString() string { return buildVersion().String() }
