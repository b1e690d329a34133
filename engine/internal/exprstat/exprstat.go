// Package exprstat counts what expression evaluation does in this process,
// for tests and benchmarks of the packages that evaluate expressions.
package exprstat

import "sync/atomic"

// Turns counts the loop turns of every evaluation in this process (tests
// check that a cancelled evaluation stops turning).
var Turns atomic.Int64
