package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// PrompterFunc adapts a function to Prompter, for embedders that answer
// halts themselves (a chat bot, a ticket system, a policy check) while the
// run waits. Only the exact answer "yes" approves.
type PrompterFunc func(ctx context.Context, prompt string) (string, error)

// Ask calls f.
func (f PrompterFunc) Ask(ctx context.Context, prompt string) (string, error) { return f(ctx, prompt) }

// LoadRun returns the run's info and the protocol it was started with,
// parsed and validated from the bytes the store kept when the run was
// created (RunInfo.Source), so that a process other than the one that
// started the run can Decide on it and Resume it without the protocol file
// at hand. opts names the adapters, as for Parse; they must include every
// adapter the protocol uses.
//
// LoadRun returns an error wrapping ErrUnknownRun for a run the store does
// not hold, refuses a run whose kept bytes are missing or do not match
// the digest recorded when it started, and one whose journal does not
// check out (a *JournalError, see VerifyJournal).
func LoadRun(ctx context.Context, s store.Store, runID string, opts *protocol.LoadOptions) (*store.RunInfo, *protocol.Protocol, error) {
	info, entries, err := s.Load(ctx, runID)
	if err != nil {
		return nil, nil, err
	}
	if len(info.Source) == 0 {
		return nil, nil, fmt.Errorf("run %s: the store kept no protocol source; load %s and pass it to Resume", runID, info.File)
	}
	sum := sha256.Sum256(info.Source)
	if got := hex.EncodeToString(sum[:]); got != info.Digest {
		return nil, nil, fmt.Errorf("run %s: the kept protocol has sha256 %.12s, the run started with %.12s: refusing a changed protocol",
			runID, got, info.Digest)
	}
	p, err := protocol.Parse(info.File, info.Source, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("run %s: %w", runID, err)
	}
	if err := verifyJournalIn(s, p, info, entries); err != nil {
		return nil, nil, err
	}
	return info, p, nil
}
