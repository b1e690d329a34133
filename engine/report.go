package engine

import (
	"fmt"
	"os"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/report"
)

// Report builds the run's report from its state.
func (r *Runner) Report(status Status) *journal.RunReport {
	return journal.BuildReport(r.p, r.st, string(status), r.now, func(text string) string { return r.fill(text, nil) })
}

// writeReport writes the JSON and Markdown reports the protocol names.
func (r *Runner) writeReport(status Status) error {
	if r.p.Report.JSON == "" && r.p.Report.Markdown == "" {
		return nil
	}
	if r.opts.NoEvidence {
		// As for missing_evidence: files skipped on purpose count as written,
		// so a handoff that checks run.report_written still passes.
		r.st.ReportWritten = true
		return nil
	}
	rep := r.Report(status)
	if r.p.Report.JSON != "" {
		// The report is built from the run's records, whose outside values
		// (a decision's reason too) were redacted where they entered.
		b, err := report.JSON(rep)
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		if err := r.writeArtifact(r.p.Report.JSON, journal.ArtifactReport, b); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if r.p.Report.Markdown != "" {
		if err := r.writeArtifact(r.p.Report.Markdown, journal.ArtifactReport, []byte(report.MarkdownReport(rep))); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	r.st.ReportWritten = true
	return nil
}

func (r *Runner) hasFile(p string) bool {
	st, err := os.Stat(r.out(r.runPath(p)))
	return err == nil && st.Mode().IsRegular()
}
