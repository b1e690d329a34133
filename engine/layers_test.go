package engine_test

import (
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/protorun/protorun"

// layer is what one of the module's packages may import of the module, and
// which outside packages only it may import.
type layer struct {
	pkg   string   // a path in the module; "x/..." is x and everything below it
	allow []string // the module's packages it may import ("x/..." as above)
	any   bool     // it may import any of the module's packages (programs)
}

// layers is the layout of the engine (ARCHITECTURE-REVIEW section 3):
// every import points down. Packages that do not exist yet are listed so
// that the next split is checked from its first commit. A package of the
// module that is not listed fails the check: add it here, in its layer.
var layers = []layer{
	// layer 0: contracts and leaves
	{pkg: "adapters/...", allow: []string{"adapters/..."}},
	{pkg: "schemas"},
	{pkg: "docs"},
	{pkg: "engine/internal/fakeadapters", allow: []string{"adapters"}}, // test fakes of the standard adapters
	{pkg: "engine/internal/..."},
	{pkg: "engine/store"},
	// layer 1
	{pkg: "engine/protocol", allow: []string{"adapters", "schemas", "engine/internal/..."}},
	{pkg: "engine/store/filestore", allow: []string{"engine/store", "engine/internal/..."}},
	{pkg: "engine/store/storetest", allow: []string{"engine/store"}},
	{pkg: "engine/store/pgstore", allow: []string{"engine/store", "engine/internal/..."}},
	{pkg: "engine/store/pgstore/enginetest"}, // tests only: the engine on pgstore
	{pkg: "internal/..."},                    // test helpers (internal/pgtest: a PostgreSQL server)
	// layer 2
	{pkg: "engine/journal", allow: []string{"engine/protocol", "engine/store", "adapters", "engine/internal/..."}},
	// layer 3
	{pkg: "engine/report", allow: []string{"engine/journal", "engine/protocol", "engine/store", "adapters", "engine/internal/..."}},
	// layer 4: the runtime
	{pkg: "engine", allow: []string{"engine/protocol", "engine/store", "engine/journal", "engine/report", "adapters", "schemas", "engine/internal/..."}},
	// layer 5: programs
	{pkg: "cmd/protorun", allow: []string{"engine", "engine/protocol", "engine/store", "engine/store/filestore", "engine/store/pgstore", "engine/journal", "engine/report", "adapters/..."}},
	{pkg: "examples/...", any: true},
}

// only are outside packages (and everything below them) that one package
// of the module alone may import.
var only = map[string]string{
	"github.com/looplab/fsm":  "engine",
	"github.com/jackc/pgx":    "engine/store/pgstore",
	"github.com/jackc/pgconn": "engine/store/pgstore",
}

// under reports whether path is pattern, or below it when pattern ends in
// "/...".
func under(path, pattern string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == p || strings.HasPrefix(path, p+"/")
	}
	return path == pattern
}

// ruleOf returns the layer of pkg (a path in the module); the most
// specific pattern wins.
func ruleOf(pkg string) (layer, bool) {
	var best layer
	found := false
	for _, l := range layers {
		switch {
		case !under(pkg, l.pkg):
		case l.pkg == pkg:
			return l, true
		case !found || len(l.pkg) > len(best.pkg):
			best, found = l, true
		}
	}
	return best, found
}

// checkLayers returns a line for every import in graph (the module's
// packages by their path in the module, each with its imports, full
// paths) that breaks layers or only.
func checkLayers(graph map[string][]string) []string {
	var bad []string
	for pkg, imports := range graph {
		l, ok := ruleOf(pkg)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: not in the layer table (engine/layers_test.go): add it to its layer", pkg))
			continue
		}
		for _, imp := range imports {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				allowed := l.any
				for _, a := range l.allow {
					allowed = allowed || under(rel, a)
				}
				if !allowed {
					bad = append(bad, fmt.Sprintf("%s imports %s: not a layer below it", pkg, rel))
				}
				continue
			}
			for outside, owner := range only {
				if under(imp, outside+"/...") && pkg != owner {
					bad = append(bad, fmt.Sprintf("%s imports %s: only %s may", pkg, imp, owner))
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// moduleGraph reads the non-test imports of every package of the module
// from its source, as go/build sees it for this platform.
func moduleGraph(t *testing.T, root string) map[string][]string {
	t.Helper()
	graph := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		graph[filepath.ToSlash(rel)] = pkg.Imports
		return nil
	})
	require.NoError(t, err)
	return graph
}

// Every package imports only the layers below it, looplab/fsm is linked
// only by the runtime, and pgx only by the PostgreSQL store.
func TestLayers(t *testing.T) {
	graph := moduleGraph(t, "..")
	require.Contains(t, graph, "engine/store", "the walk did not find the module's packages")
	require.Contains(t, graph, "engine")
	assert.Empty(t, checkLayers(graph))
}

// The check itself fails on each kind of breach.
func TestCheckLayers(t *testing.T) {
	fsm := "github.com/looplab/fsm"
	for _, tc := range []struct {
		name  string
		graph map[string][]string
		bad   []string
	}{
		{"ok", map[string][]string{
			"engine/store":           {"context"},
			"engine/store/filestore": {module + "/engine/store", module + "/engine/internal/atomicfile", "github.com/gofrs/flock"},
			"engine":                 {module + "/engine/store", module + "/adapters", fsm},
			"cmd/protorun":           {module + "/engine", module + "/engine/store/filestore", module + "/adapters/all"},
			"adapters/http":          {module + "/adapters", module + "/adapters/internal/param"},
			"examples/embed":         {module + "/engine", module + "/engine/store/filestore"},
		}, nil},
		{"store imports engine", map[string][]string{
			"engine/store": {module + "/engine"},
		}, []string{"engine/store imports engine: not a layer below it"}},
		{"filestore imports storetest", map[string][]string{
			"engine/store/filestore": {module + "/engine/store/storetest"},
		}, []string{"engine/store/filestore imports engine/store/storetest: not a layer below it"}},
		{"engine imports filestore", map[string][]string{
			"engine": {module + "/engine/store/filestore"},
		}, []string{"engine imports engine/store/filestore: not a layer below it"}},
		{"protocol imports journal", map[string][]string{
			"engine/protocol": {module + "/engine/journal"},
		}, []string{"engine/protocol imports engine/journal: not a layer below it"}},
		{"adapter imports engine", map[string][]string{
			"adapters/exec": {module + "/engine"},
		}, []string{"adapters/exec imports engine: not a layer below it"}},
		{"fsm outside engine", map[string][]string{
			"engine/report": {fsm},
		}, []string{"engine/report imports github.com/looplab/fsm: only engine may"}},
		{"pgx outside pgstore", map[string][]string{
			"engine/store/pgstore": {"github.com/jackc/pgx/v5"},
			"engine":               {"github.com/jackc/pgx/v5/pgxpool"},
		}, []string{"engine imports github.com/jackc/pgx/v5/pgxpool: only engine/store/pgstore may"}},
		{"unknown package", map[string][]string{
			"engine/store/s3store": {module + "/engine/store"},
		}, []string{"engine/store/s3store: not in the layer table (engine/layers_test.go): add it to its layer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.bad, checkLayers(tc.graph))
		})
	}
}
