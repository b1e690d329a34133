package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/protorun/protorun/engine/store"
)

// logLine is one journal entry for people: its time, kind, step and a
// one-line summary (protorun logs; -o json gives the entries as stored).
type logLine struct {
	Seq     int    `json:"seq"`
	Time    string `json:"time"`
	Kind    string `json:"kind"`
	Step    string `json:"step,omitempty"`
	Summary string `json:"summary"`
}

// maxSummary bounds a summary: the whole entry is in -o json.
const maxSummary = 160

func summarizeEntry(e store.Entry) logLine {
	var d map[string]any
	_ = json.Unmarshal(e.Data, &d)
	str := func(k string) string {
		if v, ok := d[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	l := logLine{Seq: e.Seq, Time: e.Time.Local().Format("15:04:05.000"), Kind: string(e.Kind), Step: str("step")}
	if l.Step == "" && e.Kind != store.KindPhase {
		l.Step = str("id")
	}
	var s string
	switch e.Kind {
	case store.KindContext:
		s = fmt.Sprintf("run context frozen (protocol sha256 %.12s)", str("protocol_sha256"))
	case store.KindPhase:
		s = "phase " + str("id") + " (" + str("title") + ") started"
		if st := str("status"); st != "" {
			s = "phase " + str("id") + " (" + str("title") + ") " + st
		}
	case store.KindTransition:
		s = fmt.Sprintf("%s → %s (%s)", str("from"), str("to"), str("event"))
	case store.KindStepStart:
		s = "started"
	case store.KindStepEnd:
		s = join(str("status"), str("message"))
	case store.KindGate:
		verdict := "failed"
		if d["passed"] == true {
			verdict = "passed"
		}
		s = join(str("title")+" "+verdict, str("policy"))
	case store.KindHalt:
		s = join("waiting ("+str("kind")+")", str("prompt"))
	case store.KindDecision:
		verb := "rejected"
		if d["approve"] == true {
			verb = "approved"
		}
		s = verb + " by " + str("by")
		if v := str("via"); v != "" {
			s += " via " + v
		}
		if r := str("reason"); r != "" {
			s += ": " + r
		}
	case store.KindEnd:
		s = join(str("status"), str("failure"))
	default:
		for _, k := range []string{"status", "message", "state", "error", "reason"} {
			s = join(s, str(k))
		}
		if s == "" {
			s = string(e.Data)
		}
	}
	l.Summary = oneLine(s, maxSummary)
	return l
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ": " + b
}

// oneLine folds s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
