package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// common holds the flags shared by the commands that drive runs.
type common struct {
	stateDir string
	storeURL string // --store
	as       string
	asGiven  *bool // --as was on the command line (identity.go)
	output   string
	noColor  bool
	waitLock time.Duration
	// waitDecision is --wait, on run and resume (wait.go).
	waitDecision time.Duration
	junit        string // --junit FILE, on the commands that drive a run
	// notifyURL is --notify-url, the default notifier's webhook (notify.go).
	notifyURL string
}

// Each command registers only the flags it uses: cobra refuses the others.

// stateDirFlag registers --store and --state-dir, where runs are kept.
func (c *common) stateDirFlag(cmd *cobra.Command) {
	storeFlags(cmd, &c.storeURL, &c.stateDir)
}

// storeFlags registers --store URL and --state-dir DIR on a command that
// reads or writes runs.
func storeFlags(cmd *cobra.Command, url, dir *string) {
	cmd.Flags().StringVar(url, "store", "", "where runs are kept: a directory, file:DIR or postgres://… (first of --store, --state-dir, $PROTORUN_STORE, $PROTORUN_STATE_DIR, else .protorun)")
	cmd.Flags().StringVar(dir, "state-dir", "", "run store directory, as --store DIR (default $PROTORUN_STATE_DIR or .protorun)")
}

func (c *common) asFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.as, "as", "", "who you are, recorded with decisions (default $PROTORUN_USER, or in CI $GITHUB_ACTOR or $GITLAB_USER_LOGIN; approve, reject and abort need one)")
	c.asGiven = &cmd.Flags().Lookup("as").Changed
}

func (c *common) outputFlag(cmd *cobra.Command, usage string) {
	cmd.Flags().StringVarP(&c.output, "output", "o", "text", usage)
}

// driveFlags are the flags of the commands that drive a run: run, resume
// and abort.
func (c *common) driveFlags(cmd *cobra.Command) {
	c.stateDirFlag(cmd)
	c.asFlag(cmd)
	c.outputFlag(cmd, "output: text, or json (one event per line)")
	cmd.Flags().BoolVar(&c.noColor, "no-color", false, "no colour (also NO_COLOR)")
	cmd.Flags().DurationVar(&c.waitLock, "wait-lock", 0, "wait this long for an environment another run holds, or for the process driving this run (default: fail at once)")
	c.junitFlag(cmd)
	c.notifyFlag(cmd)
}

// store opens where runs are kept: --store, else --state-dir, else
// $PROTORUN_STORE, else $PROTORUN_STATE_DIR, else .protorun. A directory
// (--state-dir, $PROTORUN_STATE_DIR) is always a file store, whatever its
// name; a URL is opened by the store registered for its scheme. A URL
// that opens no store is a usage error.
func (c *common) store() (store.Store, error) {
	if c.storeURL != "" && c.stateDir != "" {
		return nil, exitCode(exitUsage, errors.New("--store and --state-dir both say where runs are kept: give one"))
	}
	url := c.storeURL
	if url == "" && c.stateDir != "" {
		return filestore.New(c.stateDir), nil
	}
	if url == "" {
		url = os.Getenv("PROTORUN_STORE")
	}
	if url == "" {
		dir := os.Getenv("PROTORUN_STATE_DIR")
		if dir == "" {
			dir = filestore.DefaultDir
		}
		return filestore.New(dir), nil
	}
	st, err := store.Open(context.Background(), url)
	if err != nil {
		return nil, exitCode(exitUsage, cliWords(err))
	}
	return st, nil
}

// identity is who drives the run and where that name came from: --as, or
// configured (identity.go); none ("", "") when neither gives one, and then
// the engine records the OS user as the starter and asks who decides at
// the prompt, never deciding under a default name.
// A --as that names nobody is refused (exit 2), as approve refuses it.
func (c *common) identity() (name, source string, err error) {
	d, err := c.decider("")
	if err == nil {
		return d.name, d.source, nil
	}
	if c.asGiven != nil && *c.asGiven {
		return "", "", err
	}
	for _, s := range identitySources {
		if strings.TrimSpace(os.Getenv(s.env)) != "" {
			return "", "", err // configured, and refused (a yes, too long): as approve refuses it
		}
	}
	return "", "", nil
}

// promptOut is where questions are asked: stdout, or stderr when stdout
// carries the JSON event stream.
func (c *common) promptOut(cmd *cobra.Command) io.Writer {
	if c.output == "json" {
		return cmd.ErrOrStderr()
	}
	return cmd.OutOrStdout()
}

// observer prints a run's events to w; call stop when the run returns.
// Text output is coloured and shows progress in place only on a terminal
// (and without colour under --no-color or NO_COLOR).
func (c *common) observer(w io.Writer) (obs engine.Observer, stop func(), err error) {
	switch c.output {
	case "text":
		tty := writerIsTerminal(w)
		p, stop := newProgress(&engine.ConsoleObserver{W: w, Color: tty && c.colorWanted()}, tty)
		return hintObserver{p}, stop, nil
	case "json":
		return hintObserver{&engine.JSONObserver{W: w}}, func() {}, nil
	}
	return nil, nil, exitCode(exitUsage, fmt.Errorf("-o must be text or json, not %q", c.output))
}

// promptFlags are --interactive and --no-prompt, of the commands that
// can ask halts at the terminal.
type promptFlags struct {
	interactive, noPrompt bool
}

func (f *promptFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.interactive, "interactive", false, "ask halts on stdin even when it is not a terminal")
	cmd.Flags().BoolVar(&f.noPrompt, "no-prompt", false, "never ask: stop at halts (exit 3, or 5 on a failure) even on a terminal")
}

// prompter asks halts on stdin when it is a terminal or under
// --interactive, never under --no-prompt; nil means the run stops at halts.
func (f *promptFlags) prompter(out io.Writer) engine.Prompter {
	if f.noPrompt || !(f.interactive || isTerminal(os.Stdin)) {
		return nil
	}
	return &stdinPrompter{in: bufio.NewReader(os.Stdin), out: out}
}

// errNoAnswer: stdin ended before a prompt was answered. The engine then
// stops at the halt, as without a terminal (exit 3).
var errNoAnswer = fmt.Errorf("%w: stdin is at its end", engine.ErrNoAnswer)

// stdinPrompter asks at the terminal.
type stdinPrompter struct {
	in  *bufio.Reader
	out io.Writer
}

func (p *stdinPrompter) Ask(ctx context.Context, prompt string) (string, error) {
	fmt.Fprintf(p.out, "%s\n> ", prompt)
	type answer struct {
		s   string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		s, err := p.in.ReadString('\n')
		ch <- answer{s, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case a := <-ch:
		if errors.Is(a.err, io.EOF) && a.s == "" {
			fmt.Fprintln(p.out, "(no answer: stdin is at its end)")
			return "", errNoAnswer
		}
		if a.err != nil && a.s == "" {
			return "", fmt.Errorf("read answer: %w", a.err)
		}
		return strings.TrimRight(a.s, "\r\n"), nil
	}
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// signalContext is cancelled by the first SIGINT or SIGTERM; a second one
// exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range ch {
			n++
			if n == 1 {
				fmt.Fprintln(os.Stderr, "\nprotorun: interrupted; stopping in-flight steps (again to force exit)")
				cancel()
				continue
			}
			os.Exit(130)
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

func newRunCmd() *cobra.Command {
	var c common
	var vars, simulate []string
	var dryRun bool
	var prompt promptFlags
	var runID string
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a protocol (also: protorun FILE)",
		Long: `Run a protocol from its first step to its end, a halt, or a failure.

On a terminal, halts ask their prompt and only an exact "yes" approves.
Without --as (or PROTORUN_USER, GITHUB_ACTOR, GITLAB_USER_LOGIN) the prompt
also asks who decides, and approving a protected deploy asks a reason.
Without a terminal (CI), the run stops at a halt with exit code 3 and prints
how to approve it: protorun approve RUN, then protorun resume RUN. A halt on
a failure (a gate with on_fail: halt, a step interrupted mid-call) exits 5.
With --wait DURATION the run waits at a halt instead, for up to DURATION,
until someone decides it with protorun approve or reject from any machine
that shares the run store, then goes on.

A dry run replaces every adapter by a simulated one that passes, grants every
halt, and writes evidence to a temporary directory it removes at the end;
--simulate STEP=fail (or =error, or HALT=reject) drives the failure paths.`,
		Example: `  protorun protocols/deployment.yaml
  protorun run protocols/deployment.yaml --var version=1.2.0
  protorun run protocols/deployment.yaml --dry-run --simulate smoke-tests=fail`,
		Args: runArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadProtocol(args[0])
			if err != nil {
				return exitCode(exitUsage, err)
			}
			obs, stopObs, err := c.observer(cmd.OutOrStdout())
			if err != nil {
				return err
			}
			st, err := c.store()
			if err != nil {
				return err
			}
			opts := engine.Options{Store: st, Observers: []engine.Observer{obs},
				Vars: map[string]string{}, DryRun: dryRun, Simulate: map[string]string{}, RunID: runID, WaitLock: c.waitLock,
				Notifier: c.notifier(cmd.ErrOrStderr()), WaitDecision: c.waitDecision}
			if opts.Identity, opts.IdentitySource, err = c.identity(); err != nil {
				return err
			}
			if err := c.checkWait(dryRun); err != nil {
				return err
			}
			if err := parsePairs(vars, opts.Vars, "--var"); err != nil {
				return err
			}
			if err := checkVarTypes(p, opts.Vars); err != nil {
				return err
			}
			if err := parsePairs(simulate, opts.Simulate, "--simulate"); err != nil {
				return err
			}
			if len(simulate) > 0 && !dryRun {
				// Without --dry-run the run is real: a rehearsal must not deploy.
				return exitCode(exitUsage, fmt.Errorf("--simulate needs --dry-run: without it the run is real"))
			}
			for id, what := range opts.Simulate {
				if what != "fail" && what != "error" && what != "reject" {
					return exitCode(exitUsage, fmt.Errorf("--simulate %s=%s: use fail, error or reject", id, what))
				}
				if p.Plan().Step(id) == nil && p.Plan().Step(strings.TrimSuffix(id, ".rollback")) == nil {
					return exitCode(exitUsage, fmt.Errorf("--simulate %s: the protocol has no step %q", id, id))
				}
			}
			if dryRun {
				tmp, err := os.MkdirTemp("", "protorun-dry-run-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				opts.ArtifactsDir = tmp // inputs still come from the working directory
				opts.Store = store.NewMemory()
				fmt.Fprintf(cmd.ErrOrStderr(), "dry run: simulated adapters, evidence under %s (removed when the run ends)\n", tmp)
			}
			if !dryRun {
				opts.Prompter = prompt.prompter(c.promptOut(cmd))
			}
			ctx, stop := signalContext()
			defer stop()
			res, err := engine.Start(ctx, p, opts)
			stopObs()
			return c.afterRun(cmd, opts.Store, p, res, finishRun(cmd, res, err, dryRun))
		},
	}
	c.driveFlags(cmd)
	c.waitFlag(cmd)
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a protocol var: NAME=VALUE (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "simulate every adapter; evidence to a temporary directory, removed at the end")
	cmd.Flags().StringArrayVar(&simulate, "simulate", nil, "in a dry run: STEP=fail|error or HALT=reject (repeatable)")
	prompt.register(cmd)
	cmd.Flags().StringVar(&runID, "run-id", "", "name the run (default: time and a random suffix)")
	return cmd
}

func parsePairs(in []string, out map[string]string, flag string) error {
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return exitCode(exitUsage, fmt.Errorf("%s %q: want NAME=VALUE", flag, kv))
		}
		out[k] = v
	}
	return nil
}

// checkVarTypes refuses, before anything is recorded, a value that a
// var's type (the type of its default) cannot hold, from --var or from the
// var's environment variable: "lots" for a number. The engine refuses it
// too, but as a failed run.
func checkVarTypes(p *protocol.Protocol, vars map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(p.Vars)) {
		v := p.Vars[name]
		s, given := vars[name]
		from := "--var " + name + "="
		if !given && v.Env != "" {
			s, given = os.Getenv(v.Env), os.Getenv(v.Env) != ""
			from = "environment variable " + v.Env + "="
		}
		if !given {
			continue
		}
		if _, err := v.Convert(s); err != nil {
			shown := s
			if v.Secret {
				shown = "…"
			}
			return exitCode(exitUsage, fmt.Errorf("%s%s: %s %w", from, shown, name, err))
		}
	}
	return nil
}

// finishRun prints where the run ended and maps it to an exit code.
func finishRun(cmd *cobra.Command, res *engine.Result, err error, dryRun bool) error {
	var he *engine.HaltError
	switch {
	case errors.As(err, &he) && he.OnFailure():
		return exitCode(exitHaltedFailure, nil)
	case errors.As(err, &he):
		return exitCode(exitHalted, nil)
	case errors.Is(err, store.ErrJournalDamaged):
		return exitCode(exitUsage, journalRefused(err)) // refused before acting: nothing ran
	case errors.Is(err, store.ErrLocked), errors.Is(err, store.ErrRunLeased):
		return exitCode(exitUsage, leaseHint(err)) // nothing was written
	case errors.Is(err, engine.ErrInterrupted):
		return exitCode(exitFor(res), liveDeploys(res, err))
	case errors.Is(err, store.ErrLeaseLost):
		return exitCode(exitFailed, leaseLost(err)) // an interruption: another process drives the run on
	case errors.Is(err, engine.ErrChangedRun):
		// Nothing was acted on: the values given are not the run's.
		return exitCode(exitUsage, err)
	case err != nil && res == nil:
		return exitCode(exitUsage, cliWords(err))
	case err != nil:
		// Stopped where it stood (its journal failed, or what its end
		// needs: a baseline, the report). Whatever its state says, a run
		// whose end was not recorded did not succeed.
		code := exitFor(res)
		if code == exitOK {
			code = exitFailed
		}
		return exitCode(code, liveDeploys(res, err))
	}
	if dryRun {
		fmt.Fprintf(cmd.OutOrStdout(), "dry run path: %s\n", strings.Join(append(res.Path, res.State), " → "))
	}
	if code := exitFor(res); code != 0 {
		return exitCode(code, nil)
	}
	return nil
}

// liveDeploys adds to err, the error a run stopped on without ending,
// the deploys it leaves live and unvalidated (exit 4, exitFor), and what
// to do about them.
func liveDeploys(res *engine.Result, err error) error {
	if res == nil || len(res.NotRolledBack) == 0 {
		return err
	}
	return fmt.Errorf("%w\n  deployed and not rolled back, not validated: %s: a human must act: protorun resume %s continues the run, protorun abort %s rolls them back",
		err, strings.Join(res.NotRolledBack, ", "), res.RunID, res.RunID)
}
