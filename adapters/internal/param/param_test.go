package param_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/internal/param"
)

func TestHasPlaceholder(t *testing.T) {
	assert.True(t, param.HasPlaceholder("{vars.n}"))
	assert.True(t, param.HasPlaceholder("http://{env.host}:80/"))
	assert.False(t, param.HasPlaceholder("{}"))
	assert.False(t, param.HasPlaceholder("5s"))
}

func TestTypedReads(t *testing.T) {
	m := map[string]any{
		"i": 3, "i64": int64(4), "f": 5.0, "frac": 1.5, "s": "6", "ph": "{vars.x}",
		"d": "250ms", "dnum": 5, "b": true, "bs": "false", "nil": nil,
		"list": []any{"a", "b"}, "badlist": []any{"a", 1},
		"map": map[string]any{"A": "x", "N": 1, "B": false}, "anymap": map[any]any{1: "one"},
	}
	tests := []struct {
		name    string
		lenient bool
		read    func(p *param.Params) any
		want    any
		errPath []string
	}{
		{"int", false, func(p *param.Params) any { return p.Int("i", 0, 0) }, 3, nil},
		{"int64", false, func(p *param.Params) any { return p.Int("i64", 0, 0) }, 4, nil},
		{"whole float", false, func(p *param.Params) any { return p.Int("f", 0, 0) }, 5, nil},
		{"fraction", false, func(p *param.Params) any { return p.Int("frac", 9, 0) }, 9, []string{"frac"}},
		{"expanded string in Run", false, func(p *param.Params) any { return p.Int("s", 0, 0) }, 6, nil},
		{"plain string when validating", true, func(p *param.Params) any { return p.Int("s", 0, 0) }, 0, []string{"s"}},
		{"placeholder when validating", true, func(p *param.Params) any { return p.Int("ph", 7, 0) }, 7, nil},
		{"placeholder in Run", false, func(p *param.Params) any { return p.Int("ph", 7, 0) }, 7, []string{"ph"}},
		{"below min", false, func(p *param.Params) any { return p.Int("i", 0, 10) }, 0, []string{"i"}},
		{"absent", false, func(p *param.Params) any { return p.Int("nope", 8, 0) }, 8, nil},
		{"null is absent", false, func(p *param.Params) any { return p.Int("nil", 8, 0) }, 8, nil},
		{"duration", false, func(p *param.Params) any { return p.Duration("d", 0) }, 250 * time.Millisecond, nil},
		{"duration as number", false, func(p *param.Params) any { return p.Duration("dnum", time.Second) }, time.Second, []string{"dnum"}},
		{"bool", false, func(p *param.Params) any { return p.Bool("b", false) }, true, nil},
		{"bool from string in Run", false, func(p *param.Params) any { return p.Bool("bs", true) }, false, nil},
		{"bool from string when validating", true, func(p *param.Params) any { return p.Bool("bs", true) }, true, []string{"bs"}},
		{"float from int", false, func(p *param.Params) any { return p.Float("i", 0, 0) }, 3.0, nil},
		{"strings", false, func(p *param.Params) any { return p.Strings("list") }, []string{"a", "b"}, nil},
		{"strings item", false, func(p *param.Params) any { return p.Strings("badlist") }, []string{"a"}, []string{"badlist", "1"}},
		{"string map", false, func(p *param.Params) any { return p.StringMap("map") }, map[string]string{"A": "x", "N": "1", "B": "false"}, nil},
		{"any-keyed map", false, func(p *param.Params) any { return p.Map("anymap") }, map[string]any{"1": "one"}, nil},
		{"enum", false, func(p *param.Params) any { return p.Enum("s", "a", "a", "b") }, "a", []string{"s"}},
		{"required missing", false, func(p *param.Params) any { return p.Required("nope") }, "", []string{"nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := param.New(m, tt.lenient)
			assert.Equal(t, tt.want, tt.read(p))
			errs := p.Errors()
			if tt.errPath == nil {
				assert.Empty(t, errs)
				assert.NoError(t, p.Err())
				return
			}
			require.Len(t, errs, 1)
			assert.Equal(t, tt.errPath, errs[0].Path)
			assert.ErrorIs(t, p.Err(), adapters.ErrBadParams)
		})
	}
}

func TestObjectAndAllow(t *testing.T) {
	p := param.New(map[string]any{"a": 1, "z": 2, "sub": map[string]any{"x": 1, "y": "2s"}, "notmap": 3}, false)
	p.Allow("sub", "notmap")
	sub := p.Object("sub")
	assert.True(t, sub.Present())
	sub.Allow("y")
	assert.Equal(t, 2*time.Second, sub.Duration("y", 0))
	assert.False(t, p.Object("absent").Present())
	assert.False(t, p.Object("notmap").Present())
	var paths [][]string
	for _, e := range p.Errors() {
		paths = append(paths, e.Path)
	}
	assert.Equal(t, [][]string{{"a"}, {"z"}, {"sub", "x"}, {"notmap"}}, paths)
}

func TestExcerpt(t *testing.T) {
	assert.Equal(t, "abc", param.Excerpt([]byte("  abc \n"), 10))
	assert.Equal(t, "ab…", param.Excerpt([]byte("abcdef"), 2))
	assert.Equal(t, "é…", param.Excerpt([]byte("éé"), 3), "cut on a rune boundary")
	assert.Equal(t, "\uFFFD", param.Excerpt([]byte{0xff}, 10))
}

func TestMillis(t *testing.T) {
	assert.Equal(t, 1.5, param.Millis(1500*time.Microsecond))
	assert.Equal(t, 0.001, param.Millis(1234*time.Nanosecond))
}

// TestAllowSuggestsOnlySiblings: an unknown key is named at its path, and
// "did you mean" compares it only with the names its own object takes.
func TestAllowSuggestsOnlySiblings(t *testing.T) {
	p := param.New(map[string]any{"atempts": 2, "colour": "red"}, true)
	p.Allow("attempts", "backoff")
	errs := p.Errors()
	require.Len(t, errs, 2)
	assert.Equal(t, []string{"atempts"}, errs[0].Path)
	assert.Equal(t, `unknown parameter (did you mean "attempts"?)`, errs[0].Msg)
	assert.Equal(t, []string{"colour"}, errs[1].Path)
	assert.Equal(t, "unknown parameter (known: attempts, backoff)", errs[1].Msg)
}
