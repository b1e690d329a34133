// Command crashrun drives a protocol run the way `protorun run` and
// `protorun resume` do, through the engine and a FileStore, except that it
// kills itself with SIGKILL right after its journal append that reaches
// entry number -die-after: a crash at an exact journal boundary. The crash
// tests build it; protorun itself carries no test hook.
//
//	crashrun -die-after N [-split] [-state-dir DIR] [-as NAME] run FILE RUN
//	crashrun -die-after N [-split] [-state-dir DIR] [-as NAME] resume RUN
//
// With -split it appends the entries the runner hands it together one at
// a time, so that it can die between any two entries of the journal.
//
// Without -die-after (or with 0) it never kills itself. Exit codes are
// protorun's: 0 completed, 1 failed, 2 usage, 3 halted for an approval,
// 4 rollback failed, 5 halted on a failure.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"syscall"

	_ "github.com/protorun/protorun/adapters/all"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// killStore is a FileStore (its environment locks included) that dies
// after the journal holds entry dieAfter.
type killStore struct {
	*filestore.Store
	dieAfter int
	// split appends the entries of one Append one at a time, so that the
	// process can die between any two of them: the journal a runner that
	// made every entry durable on its own would leave.
	split bool
}

func (s *killStore) Append(ctx context.Context, run string, entries ...store.Entry) error {
	if s.split && len(entries) > 1 {
		for _, e := range entries {
			if err := s.Append(ctx, run, e); err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.Store.Append(ctx, run, entries...); err != nil {
		return err
	}
	if s.dieAfter > 0 && len(entries) > 0 && entries[len(entries)-1].Seq >= s.dieAfter {
		// The entry is durable (Append fsync'd it); nothing after it happens.
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return nil
}

func main() {
	dieAfter := flag.Int("die-after", 0, "SIGKILL this process right after journal entry N is appended")
	stateDir := flag.String("state-dir", filestore.DefaultDir, "run store directory")
	as := flag.String("as", "crashrun", "identity")
	split := flag.Bool("split", false, "append entries one at a time (die between any two)")
	flag.Parse()
	os.Exit(run(flag.Args(), &killStore{Store: filestore.New(*stateDir), dieAfter: *dieAfter, split: *split}, *as))
}

func run(args []string, st *killStore, as string) int {
	ctx := context.Background()
	opts := engine.Options{Store: st, Identity: as, Observers: []engine.Observer{&engine.ConsoleObserver{W: os.Stdout}}}
	var (
		res *engine.Result
		err error
	)
	switch {
	case len(args) == 3 && args[0] == "run":
		p, lerr := protocol.Load(args[1], nil)
		if lerr != nil {
			return usage(lerr)
		}
		opts.RunID = args[2]
		res, err = engine.Start(ctx, p, opts)
	case len(args) == 2 && args[0] == "resume":
		info, _, lerr := st.Load(ctx, args[1])
		if lerr != nil {
			return usage(lerr)
		}
		src, lerr := os.ReadFile(info.File)
		if lerr != nil {
			return usage(lerr)
		}
		if !bytes.Equal(src, info.Source) {
			return usage(fmt.Errorf("%s changed since run %s started", info.File, args[1]))
		}
		p, lerr := protocol.Parse(info.File, src, nil)
		if lerr != nil {
			return usage(lerr)
		}
		res, err = engine.Resume(ctx, p, args[1], opts)
	default:
		return usage(errors.New("usage: crashrun [-die-after N] [-state-dir DIR] [-as NAME] run FILE RUN | resume RUN"))
	}
	var he *engine.HaltError
	switch {
	case errors.As(err, &he) && he.OnFailure():
		return 5
	case errors.As(err, &he):
		return 3
	case err != nil && res == nil:
		return usage(err)
	case err != nil:
		fmt.Fprintln(os.Stderr, "crashrun:", err)
		return 1
	}
	// protorun's exit codes (cmd/protorun exitFor).
	switch {
	case engine.Completed(res.Status):
		return 0
	case res.Awaiting() == engine.AwaitingFailure:
		return 5
	case res.Awaiting() == engine.AwaitingApproval:
		return 3
	case res.Status == engine.StatusRollbackFailed, len(res.LeftInPlace) > 0:
		return 4
	}
	return 1
}

func usage(err error) int {
	fmt.Fprintln(os.Stderr, "crashrun:", err)
	return 2
}
