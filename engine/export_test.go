package engine

import (
	"time"

	"github.com/protorun/protorun/engine/internal/atomicfile"
	"github.com/protorun/protorun/engine/store"
)

// Fsyncs returns how many fsync calls (files and directories) the engine
// has made in this process so far. Benchmarks read it before and after a
// run to report fsyncs per step.
func Fsyncs() int64 { return atomicfile.Fsyncs() }

// SealEntry sets e.Hash, chaining it to prev (the journal's head), as the
// runner does: tests forge entries a tamperer could compute.
func SealEntry(prev string, e *store.Entry) string { return store.Seal(prev, e) }

// SetProgressClock sets p's ticker interval and clock.
func SetProgressClock(p *ProgressObserver, interval time.Duration, now func() time.Time) {
	p.interval, p.now = interval, now
}

// ProgressTick redraws p's status line, as its ticker does.
func ProgressTick(p *ProgressObserver) { p.tick() }
