package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The chain. Every journal entry carries Hash, the hex sha256 of
//
//	"protorun journal v1\n" + prev + "\n" + body
//
// where body is the entry without its hash: its seq in decimal, its time
// in RFC 3339 (UTC, nanoseconds) and its kind, each ending in a newline,
// then its data exactly as the journal holds it (compact JSON, as
// json.Marshal writes it), and prev is the hash of the entry before it.
// The first entry's prev is the run's genesis hash: the sha256 of the
// run's record (id, protocol, file, protocol digest, who started it, when,
// its public vars).

// ChainHead is the head of a run's hash chain as its store recorded it
// with the run's last Append: how many entries the journal holds and the
// hash of the last one (for an empty journal: 0 and the run's
// [GenesisHash]). The chain alone cannot tell a journal cut short from a
// whole one (cutting entries off its end leaves a shorter chain that is
// still whole); compared with the head, it can.
type ChainHead struct {
	Entries int    `json:"entries"`
	Hash    string `json:"hash"`
}

const (
	chainPrefix   = "protorun journal v1\n"
	genesisPrefix = "protorun run v1\n"
)

// GenesisHash is the hash the first journal entry of the run chains to:
// the run's record as the store keeps it.
func GenesisHash(info *RunInfo) string {
	b, err := json.Marshal(struct {
		ID        string            `json:"id"`
		Protocol  string            `json:"protocol"`
		File      string            `json:"file"`
		Digest    string            `json:"digest"`
		StartedBy string            `json:"started_by"`
		Started   time.Time         `json:"started"`
		Vars      map[string]string `json:"vars,omitempty"`
	}{info.ID, info.Protocol, info.File, info.Digest, info.StartedBy, info.Started, info.Vars})
	if err != nil {
		// Only a time outside years 0-9999 fails to encode; hash its text.
		b = fmt.Appendf(nil, "%s %s %s %s %s %v", info.ID, info.Protocol, info.Digest, info.StartedBy, info.Started, info.Vars)
	}
	sum := sha256.Sum256(append([]byte(genesisPrefix), b...))
	return hex.EncodeToString(sum[:])
}

// EntryHash is the hash of e chained to prev; e.Hash is ignored. It hashes
// the fields, not json.Marshal(e): encoding an entry compacts its data
// again, and that was a third of the engine's cost per step.
func EntryHash(prev string, e Entry) string {
	h := sha256.New()
	var buf [64]byte
	h.Write([]byte(chainPrefix))
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(strconv.AppendInt(buf[:0], int64(e.Seq), 10))
	h.Write([]byte{'\n'})
	h.Write(e.Time.UTC().AppendFormat(buf[:0], time.RFC3339Nano))
	h.Write([]byte{'\n'})
	h.Write([]byte(e.Kind))
	h.Write([]byte{'\n'})
	h.Write(e.Data)
	return hex.EncodeToString(h.Sum(nil))
}

// LastHash is the hash a new entry of the run chains to: the last
// entry's, or the [GenesisHash] of an empty journal.
func LastHash(info *RunInfo, entries []Entry) string {
	if len(entries) == 0 {
		return GenesisHash(info)
	}
	return entries[len(entries)-1].Hash
}

// Seal sets e.Hash, chaining it to prev, and returns it.
func Seal(prev string, e *Entry) string {
	e.Hash = EntryHash(prev, *e)
	return e.Hash
}
