package pgstore

// The store contract's names as this package uses them.

import (
	"fmt"
	"io/fs"

	"github.com/protorun/protorun/engine/store"
)

type (
	runInfo        = store.RunInfo
	entry          = store.Entry
	chainHead      = store.ChainHead
	holder         = store.Holder
	envLease       = store.EnvLease
	runLeasedError = store.RunLeasedError
	envLeasedError = store.EnvLeasedError
)

var (
	errConflict   = store.ErrConflict
	errUnknownRun = store.ErrUnknownRun
	errNotExist   = fs.ErrNotExist
	genesisHash   = store.GenesisHash
	keptName      = store.KeptPath
)

const kindEnd = string(store.KindEnd)

var (
	_ store.Store        = (*Store)(nil)
	_ store.RunLeaser    = (*Store)(nil)
	_ store.LeaseExpirer = (*Store)(nil)
	_ store.EnvLeaser    = (*Store)(nil)
	_ store.FileKeeper   = (*Store)(nil)
	_ store.Watcher      = (*Store)(nil)
	_ store.Identifier   = (*Store)(nil)
)

func errUnknown(run, where string) error {
	return fmt.Errorf("%w %q (store %s)", errUnknownRun, run, where)
}
