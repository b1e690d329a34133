package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/engine"
)

func newReportCmd() *cobra.Command {
	var stateDir, storeURL, format, output string
	cmd := &cobra.Command{
		Use:   "report RUN",
		Short: "Render a run as Markdown or a self-contained HTML page",
		Long: `Render a run from its journal in the state directory: a timeline of its
phases and steps with bars to scale, its gates with each criterion, the values
it read and its verdict, the decisions (who, when, why), and the protocol's
flow chart with the path the run took highlighted.

--format md gives Markdown with the chart as a Mermaid block; --format html
gives one HTML file with no scripts and nothing fetched from the network (the
chart is inline SVG, the Mermaid source beside it); --format json gives the
data both are drawn from. The run may be finished, halted or interrupted; the
protocol is the copy kept when the run started.`,
		Example: `  protorun report 20261125-203000-a1b2c3 > report.md
  protorun report 20261125-203000-a1b2c3 --format html --output report.html`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := common{stateDir: stateDir, storeURL: storeURL}
			st, err := c.store()
			if err != nil {
				return err
			}
			v, err := engine.LoadRunView(context.Background(), st, args[0])
			if err != nil {
				return exitCode(exitUsage, journalRefused(err))
			}
			var buf bytes.Buffer
			switch format {
			case "md", "markdown":
				md, err := v.Markdown()
				if err != nil {
					return exitCode(exitFailed, err)
				}
				buf.WriteString(md)
			case "html":
				if err := v.WriteHTML(&buf); err != nil {
					return exitCode(exitFailed, err)
				}
			case "json":
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				if err := enc.Encode(v); err != nil {
					return exitCode(exitFailed, err)
				}
			default:
				return exitCode(exitUsage, fmt.Errorf("--format must be md, html or json, not %q", format))
			}
			if output == "" || output == "-" {
				_, err := cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := engine.WriteFileAtomic(output, buf.Bytes(), 0o644); err != nil {
				return exitCode(exitFailed, fmt.Errorf("write report: %w", err))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "report of run %s written to %s\n", args[0], output)
			return nil
		},
	}
	storeFlags(cmd, &storeURL, &stateDir)
	cmd.Flags().StringVar(&format, "format", "md", "md, html or json")
	cmd.Flags().StringVar(&output, "output", "", "write to FILE (atomically) instead of stdout")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"md", "html", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("output", "md", "html", "json")
	return cmd
}
