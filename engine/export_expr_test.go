package engine

import "github.com/protorun/protorun/engine/internal/exprstat"

// ExprTurns is how many loop turns expressions have made in this process.
func ExprTurns() int64 { return exprstat.Turns.Load() }
