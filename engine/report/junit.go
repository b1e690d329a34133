package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// JUnit XML, as CI systems (Jenkins, GitLab, GitHub test reporters) read
// it: one suite per phase; a test case per gate and per must step.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string           `xml:"name,attr"`
		Tests      int              `xml:"tests,attr"`
		Failures   int              `xml:"failures,attr"`
		Errors     int              `xml:"errors,attr"`
		Skipped    int              `xml:"skipped,attr"`
		Time       string           `xml:"time,attr"`
		Timestamp  string           `xml:"timestamp,attr,omitempty"`
		Properties *junitProperties `xml:"properties,omitempty"`
		Cases      []junitCase      `xml:"testcase"`
	}
	junitProperties struct {
		Property []junitProperty `xml:"property"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
		Skipped   *junitProblem `xml:"skipped,omitempty"`
		SystemOut *junitText    `xml:"system-out,omitempty"`
	}
	junitText struct {
		Text string `xml:",cdata"`
	}
	junitProblem struct {
		Message string `xml:"message,attr,omitempty"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",cdata"`
	}
)

// JUnit renders a run's report as JUnit XML, as CI systems read it: each phase a suite, each gate and each
// action step a test case. A failed gate's failure names every criterion
// with its expression, the values it read and its verdict (a gate whose
// failure only notifies fails too); a failed step's carries its message,
// a guideline step's as a failure of type "guideline-failed": the run went
// on, and the suite says so. Steps and gates the run did not reach are
// skipped. A run halted on a failure has one more failing case, its halt
// (haltCase); a halt for an approval is no test case. The run's status and
// each of its warnings are properties.
func JUnit(rep *journal.RunReport) ([]byte, error) {
	seconds := func(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }
	gates := map[string]*journal.GateRecord{}
	for _, g := range rep.Gates {
		gates[g.ID] = g
	}
	out := junitSuites{Name: rep.Protocol + " run " + rep.RunID, Time: seconds(rep.DurationMS)}
	props := []junitProperty{
		{"run", rep.RunID}, {"protocol", rep.Protocol}, {"protocol_sha256", rep.Digest},
		{"status", rep.Status}, {"state", rep.State}, {"started_by", rep.StartedBy},
	}
	if rep.Failure != "" {
		props = append(props, junitProperty{"failure", rep.Failure})
	}
	for _, w := range rep.Warnings {
		props = append(props, junitProperty{"warning", w})
	}
	for i, ph := range rep.Phases {
		s := junitSuite{Name: rep.Protocol + "/" + ph.ID}
		total := 0.0
		if !ph.Started.IsZero() {
			s.Timestamp = ph.Started.UTC().Format("2006-01-02T15:04:05")
		}
		if i == 0 {
			s.Properties = &junitProperties{props}
		}
		for _, st := range ph.Steps {
			var c junitCase
			switch {
			case st.Kind == "gate":
				c = gateCase(st, gates[st.ID])
			case st.Kind == "action" && st.Level == string(protocol.Must):
				c = stepCase(st)
			case st.Kind == "action" && st.Level == string(protocol.Guideline):
				c = stepCase(st)
				c.Name += " [guideline]"
				if c.Failure != nil || c.Error != nil {
					// A failure the run went past is still a failure.
					p := c.Failure
					if p == nil {
						p, c.Error = c.Error, nil
					}
					p.Type = "guideline-" + st.Status
					p.Message = "guideline step " + st.Status + " (the run went on): " + st.Message
					c.Failure = p
				}
			default:
				continue
			}
			c.Classname = rep.Protocol + "." + ph.ID
			c.Time = seconds(st.DurationMS)
			switch {
			case c.Failure != nil:
				s.Failures++
			case c.Error != nil:
				s.Errors++
			case c.Skipped != nil:
				s.Skipped++
			}
			s.Tests++
			s.Cases = append(s.Cases, c)
			total += st.DurationMS
		}
		s.Time = seconds(max(total, ph.DurationMS))
		if c := haltCase(rep, ph); c != nil {
			s.Tests++
			s.Failures++
			s.Cases = append(s.Cases, *c)
		}
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
		out.Suites = append(out.Suites, s)
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	b.WriteString("\n")
	return b.Bytes(), nil
}

func notRun(st journal.ReportStep) *junitProblem {
	msg := "not run"
	if st.Status == "skipped" {
		msg = "skipped: its when: was false"
	}
	return &junitProblem{Message: msg}
}

func stepCase(st journal.ReportStep) junitCase {
	c := junitCase{Name: st.ID}
	if st.Title != "" {
		c.Name = st.ID + " (" + st.Title + ")"
	}
	switch st.Status {
	case "passed":
		c.SystemOut = &junitText{st.Message}
	case "not run", "skipped":
		c.Skipped = notRun(st)
	case "errored":
		c.Error = &junitProblem{Message: st.Message, Type: "errored",
			Text: fmt.Sprintf("step %s errored after %s: %s", st.ID, plural(st.Attempts, "attempt", "attempts"), st.Message)}
	default:
		c.Failure = &junitProblem{Message: st.Message, Type: st.Status,
			Text: fmt.Sprintf("step %s %s after %s: %s", st.ID, st.Status, plural(st.Attempts, "attempt", "attempts"), st.Message)}
	}
	return c
}

func gateCase(st journal.ReportStep, g *journal.GateRecord) junitCase {
	c := junitCase{Name: "gate " + st.ID}
	if st.Title != "" {
		c.Name += " (" + st.Title + ")"
	}
	if g == nil {
		c.Skipped = notRun(st)
		return c
	}
	var lines, failed []string
	for _, cr := range g.Criteria {
		v := "passed"
		if !cr.Passed {
			v = "FAILED"
			failed = append(failed, cr.Name)
		}
		line := fmt.Sprintf("%s %s: %s", map[bool]string{true: "✓", false: "✗"}[cr.Passed], cr.Name, v)
		line += "\n    expr:   " + cr.Expr
		if len(cr.Values) > 0 {
			line += "\n    values: " + journal.FormatValues(cr.Values)
		}
		if cr.Error != "" {
			line += "\n    error:  " + cr.Error
		}
		if cr.Note != "" {
			line += "\n    note:   " + cr.Note
		}
		lines = append(lines, line)
	}
	text := strings.Join(lines, "\n")
	if g.Passed {
		c.SystemOut = &junitText{text}
		return c
	}
	c.Failure = &junitProblem{Type: "gate-" + g.Policy, Text: text,
		Message: fmt.Sprintf("gate %s failed (%s): %s", g.Title, g.Policy, strings.Join(failed, "; "))}
	return c
}

// haltCase is the failing test case of a run halted on a failure (a gate
// with on_fail: halt, a call interrupted mid-way), in the suite of the
// phase the halt is in (a rollback's: its deploy's phase): the run did not
// pass, whatever its steps say, and CI must not show it green while it
// waits. Nil for another phase, and for a run that is not halted on a
// failure: an approval halt is not a failure.
func haltCase(rep *journal.RunReport, ph journal.ReportPhase) *junitCase {
	h := rep.Halt
	if !h.OnFailure() {
		return nil
	}
	step := strings.TrimSuffix(h.Step, ".rollback")
	found := false
	for _, st := range ph.Steps {
		found = found || st.ID == step
	}
	if !found {
		return nil
	}
	return &junitCase{
		Name:      fmt.Sprintf("halt %s (%s)", h.Step, h.Kind),
		Classname: rep.Protocol + "." + ph.ID,
		Time:      "0.000",
		Failure: &junitProblem{Type: "halted-on-failure",
			Message: fmt.Sprintf("run %s halted on a failure at %s (%s), awaiting a decision", rep.RunID, h.Step, h.Kind),
			Text:    h.Prompt},
	}
}

// plural is "1 attempt", "2 attempts".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
