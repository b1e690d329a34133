package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/report"
)

func newReportCmd() *cobra.Command {
	var stateDir, storeURL, format, output, file string
	cmd := &cobra.Command{
		Use:   "report RUN",
		Short: "Render a run as Markdown or a self-contained HTML page",
		Long: `Render a run from its journal in the state directory: a timeline of its
phases and steps with bars to scale, its gates with each criterion, the values
it read and its verdict, the decisions (who, when, why), and the protocol's
flow chart with the path the run took highlighted.

-o md (the default; table and wide are the same) gives Markdown with the chart
as a Mermaid block; -o html gives one HTML file with no scripts and nothing
fetched from the network (the chart is inline SVG, the Mermaid source beside
it); -o json (or yaml) gives the data both are drawn from. --format is the
same as -o, and -o FILE (not a format) is --file FILE, as before. The run may be finished, halted or interrupted; the
protocol is the copy kept when the run started.`,
		Example: `  protorun report 20261125-203000-a1b2c3 > report.md
  protorun report 20261125-203000-a1b2c3 -o html --file report.html`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, file, err := reportFormat(cmd, format, output, file)
			if err != nil {
				return err
			}
			c := common{stateDir: stateDir, storeURL: storeURL}
			st, err := c.store()
			if err != nil {
				return err
			}
			v, err := report.LoadRunView(context.Background(), st, args[0])
			if err != nil {
				return exitCode(exitUsage, journalRefusedIn(context.Background(), st, err))
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
			case "json", "yaml":
				if err := writeData(&buf, format, v, "  "); err != nil {
					return exitCode(exitFailed, err)
				}
			}
			if output = file; output == "" || output == "-" {
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
	cmd.Flags().StringVar(&format, "format", "", "the same as -o: md, html, json or yaml")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output: md (default; table, wide), html, json or yaml; a FILE instead is --file FILE")
	cmd.Flags().StringVar(&file, "file", "", "write to FILE (atomically) instead of stdout")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reportFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(reportFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("file", "md", "html", "json", "yaml")
	return cmd
}

// reportFormats are what report's -o and --format take.
var reportFormats = []string{"md", "html", "json", "yaml", "table", "wide"}

// reportFormat settles report's format and file from -o, --format (its
// alias) and --file. -o with a value that is no format is the file, as
// --output FILE was before -o took formats.
func reportFormat(cmd *cobra.Command, format, output, file string) (string, string, error) {
	norm := func(f string) string {
		switch f {
		case "markdown", "table", "wide", "text":
			return "md"
		}
		return f
	}
	known := func(f string) bool { return f == "md" || f == "html" || f == "json" || f == "yaml" }
	if output != "" && !known(norm(output)) {
		if file != "" {
			return "", "", exitCode(exitUsage, fmt.Errorf("-o %q: not a format (md, html, json, yaml), and --file is given", output))
		}
		file, output = output, ""
	}
	f := norm(output)
	if format != "" {
		if !known(norm(format)) {
			return "", "", exitCode(exitUsage, fmt.Errorf("--format must be md, html, json or yaml, not %q", format))
		}
		if f != "" && f != norm(format) {
			return "", "", exitCode(exitUsage, fmt.Errorf("-o %s and --format %s disagree: give one", output, format))
		}
		f = norm(format)
	}
	if f == "" {
		f = "md"
	}
	return f, file, nil
}
