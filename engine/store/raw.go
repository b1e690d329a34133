package store

import "context"

// RawLoader is a Store that can show its journal as it holds it, damage
// included, for a verification to name each problem: a line that no
// longer decodes, a damaged run record or head record. A store without it
// is verified from what Load returns, entry by entry.
//
// A wrapper around a store hides this ability (and every other optional
// one) unless it implements it too.
type RawLoader interface {
	// LoadRaw returns the run's journal as stored. An unknown run is an
	// error wrapping [ErrUnknownRun]; damage is reported in the
	// [RawJournal], not as an error.
	LoadRaw(ctx context.Context, run string) (*RawJournal, error)
}

// RawJournal is a run's record and journal as a [RawLoader] holds them.
type RawJournal struct {
	// Info is the run's record, with its Head (nil when none or when
	// HeadProblem is set). When the record does not decode it holds only
	// the run's ID, and InfoProblem says why.
	Info *RunInfo
	// Entries are the journal's entries in order, one per stored record.
	Entries []RawEntry
	// InfoProblem says what is wrong with the run's record, if anything.
	InfoProblem string
	// HeadProblem says what is wrong with the head record, if anything.
	HeadProblem string
}

// RawEntry is one stored journal record: the entry, or Bad, why it does
// not decode.
type RawEntry struct {
	Entry Entry
	Bad   string
}
