package engine

// SetSplitNodes makes the schema check cut a document into pieces of n
// nodes (see splitValidate), so tests can compare pieces with the whole;
// it returns the value before.
func SetSplitNodes(n int) int {
	old := splitNodes
	splitNodes = n
	return old
}

// ExprTurns is how many loop turns expressions have made in this process.
func ExprTurns() int64 { return exprTurns.Load() }
