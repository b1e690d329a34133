package engine

// Fsyncs returns how many fsync calls (files and directories) the engine
// has made in this process so far. Benchmarks read it before and after a
// run to report fsyncs per step.
func Fsyncs() int64 { return fsyncs.Load() }
