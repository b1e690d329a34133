package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// withCompletions wires shell completion (cobra's `protorun completion
// bash|zsh|fish|powershell`) through every command: run ids for the
// commands that take RUN, protocol files for those that take FILE, and the
// values of -o, --format and --state-dir.
func withCompletions(root *cobra.Command) *cobra.Command {
	root.CompletionOptions.HiddenDefaultCmd = false
	// Made now, so that groupsRefuseArgs sees it; cobra keeps the writer
	// it sees now for its scripts, so it is given one that writes where
	// the root writes when the script is printed (SetOut comes later).
	root.SetOut(laterOut{root})
	root.InitDefaultCompletionCmd()
	root.SetOut(nil)
	groupsRefuseArgs(root)
	for _, cmd := range root.Commands() {
		use := strings.Fields(cmd.Use)
		if len(use) > 1 && cmd.ValidArgsFunction == nil {
			switch strings.TrimSuffix(use[1], "...") {
			case "RUN":
				cmd.ValidArgsFunction = completeRuns
			case "FILE":
				cmd.ValidArgsFunction = completeProtocolFiles
			}
		}
		if f := cmd.Flags().Lookup("output"); f != nil && f.Shorthand == "o" {
			formats := dataFormats
			if cmd.Flags().Lookup("wait-lock") != nil {
				formats = []string{"text", "json"} // a run's event stream
			}
			_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
		}
		if cmd.Flags().Lookup("state-dir") != nil {
			_ = cmd.MarkFlagDirname("state-dir")
		}
		if f := cmd.Flags().Lookup("format"); f != nil && cmd.Name() == "graph" {
			_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"mermaid", "dot"}, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	return root
}

// completeProtocolFiles offers YAML files.
func completeProtocolFiles(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// groupsRefuseArgs makes every command that only groups others (store,
// completion) refuse a subcommand it does not have: cobra prints such a
// command's help and succeeds (exit 0) whatever follows it. Alone, it
// still prints its help.
func groupsRefuseArgs(root *cobra.Command) {
	for _, cmd := range root.Commands() {
		if !cmd.HasSubCommands() || cmd.Runnable() {
			continue
		}
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return exitCode(exitUsage, fmt.Errorf("unknown command %q for %q; its commands: %s", args[0], cmd.CommandPath(), strings.Join(subNames(cmd), ", ")))
			}
			return nil
		}
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
}

func subNames(cmd *cobra.Command) []string {
	var out []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			out = append(out, c.Name())
		}
	}
	return out
}

// laterOut writes where root's output goes at the time of the write.
type laterOut struct{ root *cobra.Command }

func (w laterOut) Write(p []byte) (int, error) { return w.root.OutOrStdout().Write(p) }
