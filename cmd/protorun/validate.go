package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/engine/protocol"
)

func newValidateCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check protocol files; print every problem at file:line:col",
		Long: `Check protocol files against the protocol schema and the semantic rules:
references, expressions, placeholders, evidence paths, reachability and the
safety invariant (no deploy to a protected environment without an approval
halt, passing gates and a rollback). Exits 0 when every file is valid, 2 if
any is not.`,
		Example: "  protorun validate protocols/deployment.yaml\n  protorun validate -o json protocols/*.yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			var all protocol.ErrorList
			bad := false
			for _, f := range args {
				_, err := loadProtocol(f)
				if err == nil {
					continue
				}
				bad = true
				var list protocol.ErrorList
				if errors.As(err, &list) {
					all = append(all, list...)
				} else {
					all = append(all, &protocol.Error{Pos: protocol.Pos{File: f}, Msg: err.Error()})
				}
			}
			out := cmd.OutOrStdout()
			if !human(output) {
				// One list of every problem: [] when every file is valid.
				if all == nil {
					all = protocol.ErrorList{}
				}
				if err := writeData(out, output, []*protocol.Error(all), ""); err != nil {
					return err
				}
			} else {
				for _, e := range all {
					fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
				}
				if !bad {
					for _, f := range args {
						fmt.Fprintf(out, "%s: valid\n", f)
					}
				}
			}
			if bad {
				return exitCode(exitUsage, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output: table (the problems on stderr), wide, json or yaml (one list of the problems, [] when valid)")
	return cmd
}
