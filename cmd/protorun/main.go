// Command protorun runs operational protocols written in YAML: phases of
// steps, quality gates, halts for a human decision, evidence and rollback.
//
//	protorun protocols/deployment.yaml      run a protocol
//	protorun validate protocols/*.yaml      check protocol files
//	protorun graph protocols/deployment.yaml
//
// Exit codes: 0 completed; 1 failed, everything rolled back (gates
// failed, rejected, aborted, interrupted); 2 invalid input or usage;
// 3 halted, awaiting an approval or a confirmation; 4 failed and a
// rollback failed or is incomplete, or deploys were left in place (abort
// --no-rollback): a human must act; 5 halted on a failure (a gate with
// on_fail: halt, a step interrupted mid-call), awaiting a decision.
// `protorun status RUN -o json` gives the same as "exit_code", and what a
// halted run awaits as "awaiting": "approval" or "failure".
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	_ "github.com/protorun/protorun/adapters/all"
	"github.com/protorun/protorun/engine"
)

// Exit codes, as DESIGN.md gives them.
const (
	exitOK             = 0
	exitFailed         = 1
	exitUsage          = 2
	exitHalted         = 3 // awaiting an approval or a confirmation
	exitRollbackFailed = 4
	exitHaltedFailure  = 5 // halted on a failure, awaiting a decision
)

// exitFor is the exit code of a run that ended or halted (res): the one
// place the CLI's codes meet the engine's outcomes.
func exitFor(res *engine.Result) int {
	switch {
	case res.Status.Completed():
		return exitOK
	case res.Awaiting() == engine.AwaitingFailure:
		return exitHaltedFailure
	case res.Awaiting() == engine.AwaitingApproval:
		return exitHalted
	case res.Status == engine.StatusRollbackFailed, len(res.LeftInPlace) > 0:
		return exitRollbackFailed
	case !res.Status.Done() && len(res.NotRolledBack) > 0:
		// Stopped without ending (interrupted), deploys live and not
		// validated: not "failed, everything rolled back".
		return exitRollbackFailed
	default:
		return exitFailed
	}
}

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func exitCode(code int, err error) error { return &exitError{code: code, err: err} }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// -C DIR, as git and make take it: run as if started in DIR (may be
	// repeated; each relative one is taken from the one before).
	for len(args) > 0 && (args[0] == "-C" || strings.HasPrefix(args[0], "-C=")) {
		dir, rest := strings.TrimPrefix(args[0], "-C="), args[1:]
		if args[0] == "-C" {
			if len(args) < 2 {
				fmt.Fprintln(os.Stderr, "protorun: -C needs a directory")
				return exitUsage
			}
			dir, rest = args[1], args[2:]
		}
		if err := os.Chdir(dir); err != nil {
			fmt.Fprintln(os.Stderr, "protorun: -C:", err)
			return exitUsage
		}
		args = rest
	}
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "protorun:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown flags, wrong arguments.
	fmt.Fprintln(os.Stderr, "protorun:", err)
	fmt.Fprintln(os.Stderr, "Run 'protorun --help' for usage.")
	return exitUsage
}
