package protocol

// SetSplitNodes makes the schema check cut a document into pieces of n
// nodes (see splitValidate), so tests can compare pieces with the whole;
// it returns the value before.
func SetSplitNodes(n int) int {
	old := splitNodes
	splitNodes = n
	return old
}
