// Command embed shows how a Go program embeds protorun: it defines an
// adapter of its own ("feature-flag", a checker and switch of feature flags
// held in memory), loads and validates protocol.yaml, which uses it, runs
// it with an observer of its own until the run halts for an approval,
// records the approval programmatically, resumes the run from its journal
// to the end, and prints the result.
//
//	go run ./examples/embed                 # approve the rollout
//	go run ./examples/embed -reject         # reject it: the run ends rejected
//	go run ./examples/embed -dir /tmp/x     # keep the evidence and the run store
//
// The exit code is the run's, as the protorun CLI gives it: 0 completed, 1
// failed (rejected, rolled back), 2 bad input, 3 halted, 4 rollback failed.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store/filestore"
)

//go:embed protocol.yaml
var protocolYAML []byte

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory for evidence and the run store (default: a temporary directory, removed at exit)")
	reject := fs.Bool("reject", false, "reject the rollout instead of approving it")
	approver := fs.String("approver", "release-manager", "who decides the approval halt")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "protorun-embed-")
		if err != nil {
			fmt.Fprintln(stderr, "embed:", err)
			return 2
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	code, err := rollout(ctx, *dir, *approver, !*reject, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "embed:", err)
	}
	return code
}

// rollout runs protocol.yaml in dir: start, decide the halt, resume.
func rollout(ctx context.Context, dir, approver string, approve bool, out io.Writer) (int, error) {
	// 1. The adapters the protocol may use, handed to the engine directly:
	// no global registry, so two embedders never step on each other. A
	// reusable adapter package would instead call adapters.Register in its
	// init() and be linked in with a blank import, as adapters/all does.
	flags := NewFlags()
	set := adapters.Set{"feature-flag": &FlagAdapter{Flags: flags}}

	// 2. Load and validate. Every problem comes back at once, each at
	// protocol.yaml:LINE:COL, including with: parameters the adapter rejects.
	loadOpts := &protocol.LoadOptions{Adapters: set}
	p, err := protocol.Parse("protocol.yaml", protocolYAML, loadOpts)
	if err != nil {
		return 2, err
	}
	fmt.Fprintf(out, "embed: loaded %s (%s): %d phases, %d steps\n", p.ID, p.Title, len(p.Phases), len(p.Plan().Steps))

	// 3. Run it, with the run kept in a file store (as the CLI does), our
	// own observer, and no Prompter: a halt stops the run.
	s := filestore.New(filepath.Join(dir, filestore.DefaultDir))
	obs := &printer{w: out}
	// The adapters are the set the protocol was loaded with (given once,
	// to Parse); Options.Adapters would override it for one run.
	opts := engine.Options{
		Store:     s,
		Observers: []engine.Observer{obs},
		Identity:  "embed-example", // who started the run
		Dir:       dir,             // evidence and the report go under dir
		Getenv:    func(string) string { return "" },
	}
	res, err := engine.Start(ctx, p, opts)
	var halt *engine.HaltError
	if !errors.As(err, &halt) {
		if err != nil {
			return 1, err
		}
		return exitFor(res), fmt.Errorf("run %s ended (%s) without halting for the approval", res.RunID, res.Status)
	}
	fmt.Fprintf(out, "embed: run %s halted at %s (%s)\n", halt.Run, halt.Step, halt.Kind)

	// 4. Decide. The run is in the store, so this could be another process
	// (a chat bot, a ticket hook): LoadRun reopens the exact protocol the
	// run started with. The halt has allow_starter: false, so the approver
	// must be someone other than "embed-example".
	_, p, err = engine.LoadRun(ctx, s, halt.Run, loadOpts)
	if err != nil {
		return 2, err
	}
	d := engine.Decision{Approve: approve, By: approver, Reason: "decided by the embedding example"}
	if err := engine.Decide(ctx, s, p, halt.Run, d); err != nil {
		return 2, err
	}
	fmt.Fprintf(out, "embed: %s by %s\n", map[bool]string{true: "approved", false: "rejected"}[approve], approver)

	// 5. Resume from the journal to the end.
	res, err = engine.Resume(ctx, p, halt.Run, opts)
	if err != nil {
		return 1, err
	}
	state := map[bool]string{true: "on", false: "off"}[flags.Get("flags.production", "new-checkout")]
	fmt.Fprintf(out, "embed: run %s %s (exit code %d); new-checkout is %s; %d events observed (%s)\n",
		res.RunID, res.Status, exitFor(res), state, obs.total(), obs.summary())
	return exitFor(res), nil
}

// exitFor is this program's exit code for how a run ended: the engine
// knows no exit codes; each program picks its own (the protorun CLI's are
// finer).
func exitFor(res *engine.Result) int {
	if engine.Completed(res.Status) {
		return 0
	}
	return 1
}

// printer is a custom observer: it prints announcements, step and gate
// outcomes in its own format, and counts events by kind. The engine calls
// it from the run's goroutines, one event at a time per run; the mutex
// keeps it safe if it is shared between runs.
type printer struct {
	w      io.Writer
	mu     sync.Mutex
	counts map[engine.EventKind]int
}

func (o *printer) Observe(e engine.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[engine.EventKind]int{}
	}
	o.counts[e.Kind]++
	switch e.Kind {
	case engine.EventAnnounce:
		fmt.Fprintf(o.w, "  | %s\n", e.Message)
	case engine.EventItem:
		fmt.Fprintf(o.w, "  %s %s\n", e.Step, e.Message)
	case engine.EventStepEnd:
		fmt.Fprintf(o.w, "  step %s: %s\n", e.Step, e.Status)
	case engine.EventGate:
		fmt.Fprintf(o.w, "  gate %s: %s\n", e.Step, e.Status)
	case engine.EventRollback:
		fmt.Fprintf(o.w, "  rollback %s: %s\n", e.Step, e.Status)
	case engine.EventEnd:
		fmt.Fprintf(o.w, "  end: %s\n", e.Status)
	}
}

func (o *printer) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.counts {
		n += c
	}
	return n
}

func (o *printer) summary() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var parts []string
	for k, n := range o.counts {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

var _ engine.Observer = (*printer)(nil)
