package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// withCompletions wires shell completion (cobra's `protorun completion
// bash|zsh|fish|powershell`) through every command: run ids for the
// commands that take RUN, protocol files for those that take FILE, and the
// values of -o, --format and --state-dir.
func withCompletions(root *cobra.Command) *cobra.Command {
	root.CompletionOptions.HiddenDefaultCmd = false
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
