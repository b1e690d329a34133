package protocol

import (
	"fmt"
	"slices"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/internal/suggest"
)

// AllAdapters is the package a program imports, for its side effects, to
// register the standard adapters.
const AllAdapters = "github.com/protorun/protorun/adapters/all"

// standardAdapters are the names adapters/all registers.
var standardAdapters = []string{"exec", "fake", "file", "http", "notify", "prometheus", "tcp"}

// UnknownAdapter is the error text for an adapter name set does not hold.
// When the name is a standard adapter's, or set holds none of them, the
// program most likely does not import them: the text says how.
func UnknownAdapter(name string, set adapters.Set) string {
	msg := fmt.Sprintf("unknown adapter %q%s", name, suggest.DidYouMean(name, set.Names()))
	if len(set) == 0 {
		msg = fmt.Sprintf("unknown adapter %q (no adapter is registered)", name)
	}
	standard := slices.Contains(standardAdapters, name)
	none := !slices.ContainsFunc(standardAdapters, func(n string) bool { _, ok := set[n]; return ok })
	if standard || none {
		msg += fmt.Sprintf(`; the standard adapters register when the program imports them: import _ %q`, AllAdapters)
	}
	return msg
}
