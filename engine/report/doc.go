// Package report draws a run for people and tools: the run's view
// ([RunView]: its report, timeline and path, from [LoadRunView] or
// [NewRunView]) as Markdown ([RunView.Markdown]) or a self-contained HTML
// page ([RunView.WriteHTML]); the report a run writes as it ends
// ([MarkdownReport], the same Markdown document less the timeline and
// flow only the whole journal gives, and [JSON]); the report as JUnit XML for CI
// ([JUnit]); and the protocol's flow as Mermaid or DOT ([Mermaid], [DOT],
// [Graph], and [MermaidRun] with the path a run took), as an SVG with the path a run took ([FlowSVG]), or as
// data ([FlowData]).
//
// It reads runs through package engine/journal and never imports the
// runtime (package engine), which uses it to write a run's Markdown report.
package report
