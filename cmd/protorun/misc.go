package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/report"
)

func newGraphCmd() *cobra.Command {
	var format, output string
	cmd := &cobra.Command{
		Use:     "graph FILE",
		Short:   "Print a protocol's state machine as a Mermaid or DOT chart",
		Example: "  protorun graph protocols/deployment.yaml > flow.mmd\n  protorun graph --format dot protocols/deployment.yaml | dot -Tsvg > flow.svg\n  protorun graph -o json protocols/deployment.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			p, err := loadProtocol(args[0])
			if err != nil {
				return exitCode(exitUsage, err)
			}
			if !human(output) { // the flow as data
				d, err := report.FlowData(p)
				if err != nil {
					return exitCode(exitUsage, err)
				}
				return writeData(cmd.OutOrStdout(), output, d, "  ")
			}
			out, err := report.Graph(p, format)
			if err != nil {
				return exitCode(exitUsage, err)
			}
			fmt.Fprint(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "mermaid", "the chart's language: mermaid or dot")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output: table or wide (the chart, in --format), json or yaml (the flow as data)")
	return cmd
}

func newAdaptersCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "adapters",
		Short: "List the adapters this build includes and their parameters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			type row struct {
				Name        string          `json:"name"`
				Description string          `json:"description,omitempty"`
				Parameters  json.RawMessage `json:"parameters,omitempty"`
			}
			var rows []row
			set := adapters.FromRegistry()
			for _, n := range set.Names() {
				r := row{Name: n}
				if d, ok := set[n].(adapters.Describer); ok {
					r.Description = d.Describe()
				}
				if s, ok := set[n].(adapters.ParamSchemer); ok {
					r.Parameters = s.ParamSchema()
				}
				rows = append(rows, r)
			}
			w := cmd.OutOrStdout()
			if !human(output) {
				return writeData(w, output, rows, "  ")
			}
			for _, r := range rows {
				fmt.Fprintf(w, "%s — %s\n", r.Name, r.Description)
				var s struct {
					Required   []string                  `json:"required"`
					Properties map[string]map[string]any `json:"properties"`
				}
				if json.Unmarshal(r.Parameters, &s) == nil {
					for _, k := range slices.Sorted(maps.Keys(s.Properties)) {
						req := ""
						for _, q := range s.Required {
							if q == k {
								req = " (required)"
							}
						}
						desc, _ := s.Properties[k]["description"].(string)
						if output != outWide {
							desc = oneLine(desc, 100) // wide: whole
						}
						fmt.Fprintf(w, "    %-14s%s %s\n", k, req, desc)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output: table, wide (whole descriptions), json or yaml")
	return cmd
}
