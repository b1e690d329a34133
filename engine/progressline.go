package engine

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// ProgressObserver shows, on a terminal, that a step is still at work: it
// keeps one status line under a ConsoleObserver's output — the step, the
// time it has taken and its attempts so far — redrawn in place ("\r",
// clear line) by a ticker until the next event, which clears it before
// anything else is printed. Attempts are folded into that line instead of
// one line each. Use it only when the console's writer is a terminal;
// elsewhere (a log, a CI job) the ConsoleObserver's one line per attempt
// is what to print. Build one with NewProgressObserver; Close it when the
// run returns.
type ProgressObserver struct {
	next     *ConsoleObserver // where every other line goes
	w        io.Writer        // the same writer as next.W
	interval time.Duration
	now      func() time.Time
	width    int // the terminal's columns; 0 means 100

	mu       sync.Mutex
	step     string // the step at work; "" when none
	started  time.Time
	attempts int    // adapter calls that ended without success so far
	last     string // the last attempt's message
	frame    int
	shown    bool          // a status line is on screen
	stop     chan struct{} // closes the current ticker
	wg       sync.WaitGroup
}

// NewProgressObserver wraps console, whose writer is a terminal width
// columns wide (0 for unknown: 100).
func NewProgressObserver(console *ConsoleObserver, width int) *ProgressObserver {
	return &ProgressObserver{next: console, w: console.W, interval: 200 * time.Millisecond, now: time.Now, width: width}
}

// Observe implements Observer.
func (p *ProgressObserver) Observe(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	switch e.Kind {
	case EventStepStart:
		p.stopTicker()
		p.step, p.started, p.attempts, p.last = e.Step, e.Time, 0, ""
		if p.started.IsZero() {
			p.started = p.now()
		}
		p.next.Observe(e)
		p.startTicker()
	case EventAttempt:
		if n, ok := e.Data["attempt"].(int); ok {
			p.attempts = max(p.attempts, n)
		} else {
			p.attempts++
		}
		p.last = e.Message
		if p.step == "" { // an attempt outside an announced step
			p.step, p.started = e.Step, p.now()
			p.startTicker()
		}
		if p.next.Verbose {
			p.next.Observe(e)
		}
	case EventItem, EventAnnounce:
		p.next.Observe(e)
	default: // the step ended, or the run moved on: no more status line
		p.stopTicker()
		p.step = ""
		p.next.Observe(e)
	}
	if p.step != "" {
		p.render()
	}
}

// Close stops the ticker and clears the status line; call it when the run
// returns.
func (p *ProgressObserver) Close() {
	p.mu.Lock()
	p.stopTicker()
	p.step = ""
	p.clear()
	p.mu.Unlock()
	p.wg.Wait()
}

// tick redraws the status line, as the ticker does.
func (p *ProgressObserver) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.step == "" {
		return
	}
	p.frame++
	p.clear()
	p.render()
}

func (p *ProgressObserver) startTicker() {
	stop := make(chan struct{})
	p.stop = stop
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				select {
				case <-stop: // stopped while this tick waited
					return
				default:
				}
				p.tick()
			}
		}
	}()
}

// stopTicker stops the current ticker without waiting for it (it may be
// waiting for p.mu, held by the caller).
func (p *ProgressObserver) stopTicker() {
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// render draws the status line (the caller holds p.mu and has cleared it).
func (p *ProgressObserver) render() {
	elapsed := p.now().Sub(p.started).Round(100 * time.Millisecond)
	line := fmt.Sprintf("  %s %s · %s", spinner[p.frame%len(spinner)], p.step, elapsed)
	if p.attempts > 0 {
		line += fmt.Sprintf(" · attempt %d", p.attempts+1)
		if p.last != "" {
			line += " · last: " + strings.ReplaceAll(p.last, "\n", " ")
		}
	}
	width := p.width
	if width <= 0 {
		width = 100
	}
	if utf8.RuneCountInString(line) > width-1 {
		line = string([]rune(line)[:width-2]) + "…"
	}
	fmt.Fprint(p.w, line)
	p.shown = true
}

// clear erases the status line if one is shown (the caller holds p.mu).
func (p *ProgressObserver) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}
