package report_test

import (
	"fmt"
	"time"

	_ "github.com/protorun/protorun/adapters/fake"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
)

func ExampleGraph() {
	p, err := protocol.Parse("minimal.yaml", []byte(`protorun: v1
id: minimal
title: Minimal
phases:
  - id: only
    title: Only phase
    steps:
      - id: ping
        adapter: fake
`), nil)
	if err != nil {
		panic(err)
	}
	dot, err := report.Graph(p, report.GraphDOT)
	if err != nil {
		panic(err)
	}
	fmt.Print(dot)
	// Output:
	// digraph "minimal" {
	//   label="Minimal (minimal)";
	//   labelloc=t;
	//   rankdir=TB;
	//   compound=true;
	//   node [fontname="Helvetica", fontsize=11];
	//   edge [fontname="Helvetica", fontsize=9];
	//   "(start)" [shape=circle, style=filled, fillcolor=black, label="", width=0.25];
	//
	//   subgraph "cluster_0" {
	//     label="Only phase";
	//     style="rounded,dashed";
	//     color="#777777";
	//     "ping" [shape=box, style="rounded,filled", fillcolor="#e8f1fb", label="ping"];
	//   }
	//
	//   "(rollback)" [shape=box, style="rounded,filled", fillcolor="#eeeeee", label="↩ rollback"];
	//   "(checklist)" [shape=note, style=filled, fillcolor="#eeeeee", label="☑ handoff checklist"];
	//   "(completed)" [shape=doublecircle, style=filled, fillcolor="#ffffff", label="✔ completed"];
	//   "(rolled-back)" [shape=doublecircle, style=filled, fillcolor="#ffffff", label="↩ rolled back"];
	//   "(failed)" [shape=doublecircle, style=filled, fillcolor="#ffffff", label="✘ failed"];
	//   "(rollback-failed)" [shape=doublecircle, style=filled, fillcolor="#ffffff", label="✘ rollback failed"];
	//
	//   "(start)" -> "ping";
	//   "ping" -> "(checklist)" [label="pass"];
	//   "ping" -> "(rollback)" [label="fail", color="#c0392b", fontcolor="#c0392b"];
	//   "(checklist)" -> "(completed)" [label="pass"];
	//   "(checklist)" -> "(failed)" [label="fail", color="#c0392b", fontcolor="#c0392b"];
	//   "(rollback)" -> "(rolled-back)" [label="done"];
	//   "(rollback)" -> "(failed)" [label="nothing", color="#c0392b", fontcolor="#c0392b"];
	//   "(rollback)" -> "(rollback-failed)" [label="error", color="#c0392b", fontcolor="#c0392b"];
	// }
}

func ExampleJUnit() {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rep := &journal.RunReport{Protocol: "minimal", RunID: "run-1", Status: "completed", State: "(completed)", Started: t0,
		Phases: []journal.ReportPhase{{ID: "only", Title: "Only phase", Status: "passed", Started: t0, Ended: t0,
			Steps: []journal.ReportStep{{ID: "ping", Kind: "action", Status: "passed", Message: "1 of 1 passed", DurationMS: 12, Level: "must"}}}}}
	b, err := report.JUnit(rep)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <testsuites name="minimal run run-1" tests="1" failures="0" errors="0" skipped="0" time="0.000">
	//   <testsuite name="minimal/only" tests="1" failures="0" errors="0" skipped="0" time="0.012" timestamp="2030-01-02T03:04:05">
	//     <properties>
	//       <property name="run" value="run-1"></property>
	//       <property name="protocol" value="minimal"></property>
	//       <property name="protocol_sha256" value=""></property>
	//       <property name="status" value="completed"></property>
	//       <property name="state" value="(completed)"></property>
	//       <property name="started_by" value=""></property>
	//     </properties>
	//     <testcase name="ping" classname="minimal.only" time="0.012">
	//       <system-out><![CDATA[1 of 1 passed]]></system-out>
	//     </testcase>
	//   </testsuite>
	// </testsuites>
}
