package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/protorun/protorun/engine/journal"
)

// EventKind says what an Event reports.
type EventKind string

// Event kinds an Observer receives.
const (
	EventAnnounce  EventKind = "announce"   // a message of the protocol, placeholders filled
	EventStepStart EventKind = "step-start" // a step begins
	EventStepEnd   EventKind = "step-end"   // a step ended; Status says how
	EventItem      EventKind = "item"       // one fan-out item of a step ended
	EventAttempt   EventKind = "attempt"    // an adapter call is being retried or polled
	EventGate      EventKind = "gate"       // a gate was evaluated
	EventHalt      EventKind = "halt"       // the run waits for a decision
	EventDecision  EventKind = "decision"   // a decision was recorded
	EventRollback  EventKind = "rollback"   // a rollback action ran
	EventChecklist EventKind = "checklist"  // a handoff checklist item was checked
	EventEnd       EventKind = "end"        // the run reached a terminal state or stopped
)

// Event is what observers see of a run.
type Event struct {
	Time     time.Time      `json:"time"`
	Kind     EventKind      `json:"kind"`
	Run      string         `json:"run"`
	Phase    string         `json:"phase,omitempty"`
	Step     string         `json:"step,omitempty"`
	Status   string         `json:"status,omitempty"`
	Message  string         `json:"message,omitempty"`
	Recovery []string       `json:"recovery,omitempty"`
	Data     map[string]any `json:"data,omitempty"`
	// State is the run's state machine state, on EventEnd and EventHalt.
	State string `json:"-"`
	// Halt is what the run waits for, on EventHalt: the *HaltError the
	// run returns. An application tells its users from it how to decide
	// (Message says only where the run stopped, and why).
	Halt *HaltError `json:"-"`
}

// Observer receives a run's events in order, from the run's goroutine. It
// must not block for long.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f.
func (f ObserverFunc) Observe(e Event) { f(e) }

// ConsoleObserver prints the protocol's announcements and a line per step
// outcome, as a person at a terminal wants to read them.
type ConsoleObserver struct {
	W io.Writer
	// Verbose adds a line per fan-out item and per attempt.
	Verbose bool
	// Color marks outcomes with ANSI colours (✓ green, ✗ red, halts
	// yellow). Set it only for a terminal that wants colour (not NO_COLOR).
	Color bool
	mu    sync.Mutex
}

// Observe implements Observer.
func (c *ConsoleObserver) Observe(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Kind {
	case EventAnnounce:
		fmt.Fprintln(c.W, e.Message)
		for i, r := range e.Recovery {
			fmt.Fprintf(c.W, "  %d. %s\n", i+1, r)
		}
	case EventStepEnd:
		fmt.Fprintf(c.W, "  %s %s: %s\n", c.mark(e.Status), e.Step, e.Message)
	case EventItem:
		if c.Verbose {
			fmt.Fprintf(c.W, "    %s %s\n", c.mark(e.Status), e.Message)
		}
	case EventAttempt:
		fmt.Fprintf(c.W, "    … %s\n", e.Message)
	case EventGate:
		fmt.Fprintf(c.W, "  %s gate %s: %s\n", c.mark(e.Status), e.Step, e.Message)
		if crit, ok := e.Data["criteria"].([]journal.CriterionResult); ok {
			for _, cr := range crit {
				st := "passed"
				if !cr.Passed {
					st = "failed"
				}
				note := ""
				if cr.Note != "" {
					note = " (" + cr.Note + ")"
				}
				fmt.Fprintf(c.W, "      %s %s%s\n", c.mark(st), cr.Name, note)
			}
		}
	case EventChecklist:
		box := "[x]"
		if e.Status != "passed" {
			box = "[ ]"
		}
		fmt.Fprintf(c.W, "  - %s %s\n", box, e.Message)
	case EventWarning:
		fmt.Fprintln(c.W, c.paint(e, "  ⚠ WARNING: "+e.Message))
	case EventNotify:
		if e.Status != "sent" { // a sent one is the notifier's to show
			fmt.Fprintln(c.W, c.paint(e, "  ⚠ "+e.Message))
		}
	case EventDecision, EventRollback, EventHalt, EventEnd, EventWait:
		if e.Message != "" {
			fmt.Fprintln(c.W, c.paint(e, e.Message))
		}
	}
}

// ANSI colours of the console.
const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
)

// mark is mark(status), coloured when c.Color.
func (c *ConsoleObserver) mark(status string) string {
	m := mark(status)
	if !c.Color {
		return m
	}
	switch m {
	case "✓":
		return ansiGreen + m + ansiReset
	case "✗":
		return ansiRed + m + ansiReset
	}
	return m
}

// paint colours a halt yellow and a run's end green or red, when c.Color.
func (c *ConsoleObserver) paint(e Event, text string) string {
	if !c.Color {
		return text
	}
	switch {
	case e.Kind == EventHalt:
		return ansiYellow + text + ansiReset
	case e.Kind == EventWarning, e.Kind == EventNotify, e.Kind == EventEnd && Status(e.Status) == StatusCompletedWithWarnings:
		return ansiBold + ansiYellow + text + ansiReset
	case e.Kind == EventEnd && Status(e.Status) == StatusCompleted:
		return ansiBold + ansiGreen + text + ansiReset
	case e.Kind == EventEnd, e.Kind == EventRollback && e.Status != "passed":
		return ansiBold + ansiRed + text + ansiReset
	}
	return text
}

func mark(status string) string {
	switch status {
	case "passed":
		return "✓"
	case "skipped":
		return "-"
	case "":
		return "•"
	default:
		return "✗"
	}
}

// JSONObserver writes one JSON object per event and line.
type JSONObserver struct {
	W  io.Writer
	mu sync.Mutex
}

// Observe implements Observer.
func (j *JSONObserver) Observe(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := json.Marshal(e)
	if err != nil {
		b, _ = json.Marshal(Event{Time: e.Time, Kind: e.Kind, Run: e.Run, Message: "unencodable event: " + err.Error()})
	}
	j.W.Write(append(b, '\n'))
}
