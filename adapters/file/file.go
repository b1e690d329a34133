// Package file is the protorun adapter that reads a JSON or YAML file (a
// manifest a previous step wrote, a release description, a report) so gates
// can test its content.
//
// Parameters (the step's with:):
//
//	path       Required. The file to read; a relative path is taken from
//	           the run's root (Request.Dir), else the working directory.
//	format     Optional. Default is "auto". "json", "yaml", or "auto": by
//	           extension (.json is JSON, .yaml and .yml are YAML), otherwise
//	           JSON when the content parses as JSON, else YAML.
//	required   Optional. Default is true. When false, a missing file passes
//	           with measurements.exists false.
//	max_bytes  Optional. Default is 4194304 (4 MiB). A larger file is refused.
//
// Outcomes: Passed when the file is read and decoded. Failed when it is
// missing (and required), not a regular file (a directory, a FIFO, a
// device), larger than max_bytes, or does not decode; the message names the
// path and the cause. Errored when it exists but cannot be read (permission
// denied).
//
// Result: details.data is the decoded document, JSON-compatible (YAML maps
// have string keys, timestamps become RFC 3339 strings; only the first YAML
// document is read); details.path and details.format say what was read.
//
// Measurements:
//
//	exists  whether the file exists
//	bytes   its size
//	…       every top-level scalar field (string, number, boolean) of a
//	        document that is a map, under its own name (exists and bytes
//	        are never overwritten)
//
// The adapter is idempotent: reading twice does no harm.
package file

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/internal/param"
)

func init() {
	adapters.Register("file", func() adapters.Adapter { return New() })
}

//go:embed schema.json
var schema []byte

// DefaultMaxBytes is the default of the max_bytes parameter.
const DefaultMaxBytes = 4 << 20

// Adapter reads a JSON or YAML file. Its zero value is ready to use.
type Adapter struct{}

// New returns an Adapter.
func New() *Adapter { return &Adapter{} }

type config struct {
	path     string
	format   string
	required bool
	maxBytes int
}

func parse(params map[string]any, lenient bool) (config, *param.Params) {
	p := param.New(params, lenient)
	p.Allow("path", "format", "required", "max_bytes")
	c := config{
		path:     p.Required("path"),
		format:   p.Enum("format", "auto", "json", "yaml", "auto"),
		required: p.Bool("required", true),
		maxBytes: p.Int("max_bytes", DefaultMaxBytes, 1),
	}
	return c, p
}

// ValidateParams implements adapters.ParamValidator.
func (a *Adapter) ValidateParams(params map[string]any) []*adapters.ParamError {
	_, p := parse(params, true)
	return p.Errors()
}

// ParamSchema implements adapters.ParamSchemer.
func (a *Adapter) ParamSchema() []byte { return schema }

// Describe implements adapters.Describer.
func (a *Adapter) Describe() string {
	return "reads a JSON or YAML file into details.data and its top-level scalar fields into measurements"
}

// Idempotent implements adapters.Idempotenter: reading is harmless.
func (a *Adapter) Idempotent(map[string]any) bool { return true }

// Effect implements adapters.Effecter: the adapter only reads files.
func (a *Adapter) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }

// Run implements adapters.Adapter.
func (a *Adapter) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req == nil {
		return nil, fmt.Errorf("file: %w: nil request", adapters.ErrBadParams)
	}
	c, p := parse(req.Params, false)
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("file %s: %w", c.path, err)
	}
	m := map[string]any{"exists": false, "bytes": 0}
	res := &adapters.Result{Status: adapters.Failed, Measurements: m, Details: map[string]any{"path": c.path}}
	done := func(format string, args ...any) (*adapters.Result, error) {
		res.Message = fmt.Sprintf(format, args...)
		return res, nil
	}

	if req.Dir != "" && !filepath.IsAbs(c.path) {
		c.path = filepath.Join(req.Dir, c.path)
	}
	st, err := os.Stat(c.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !c.required {
			res.Status = adapters.Passed
			return done("file %s does not exist (not required)", c.path)
		}
		return done("file %s does not exist", c.path)
	case err != nil:
		res.Status = adapters.Errored
		return done("cannot read %s: %v", c.path, unwrapPath(err))
	}
	m["exists"] = true
	if !st.Mode().IsRegular() {
		return done("%s is %s, not a regular file", c.path, kind(st.Mode()))
	}
	m["bytes"] = int(st.Size())
	if st.Size() > int64(c.maxBytes) {
		return done("%s is %d bytes, more than max_bytes %d", c.path, st.Size(), c.maxBytes)
	}

	// O_NONBLOCK: should the path have become a FIFO since Stat, opening it
	// does not wait for a writer; the check below refuses it.
	f, err := os.OpenFile(c.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		res.Status = adapters.Errored
		return done("cannot read %s: %v", c.path, unwrapPath(err))
	}
	defer f.Close()
	if st, err = f.Stat(); err == nil && !st.Mode().IsRegular() {
		return done("%s is %s, not a regular file", c.path, kind(st.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(c.maxBytes)+1))
	if err != nil {
		res.Status = adapters.Errored
		return done("cannot read %s: %v", c.path, unwrapPath(err))
	}
	m["bytes"] = len(data)
	if len(data) > c.maxBytes {
		return done("%s is more than max_bytes %d bytes", c.path, c.maxBytes)
	}

	format := c.format
	if format == "auto" {
		format = detect(c.path, data)
	}
	res.Details["format"] = format
	doc, err := adapters.Decode(format, data)
	if err != nil {
		return done("cannot decode %s as %s: %v", c.path, strings.ToUpper(format), err)
	}
	res.Details["data"] = doc
	if top, ok := doc.(map[string]any); ok {
		for k, v := range top {
			if _, taken := m[k]; taken {
				continue
			}
			switch v.(type) {
			case string, bool, int, int64, uint64, float64:
				m[k] = v
			}
		}
	}
	res.Status = adapters.Passed
	return done("read %s (%s, %d bytes)", c.path, strings.ToUpper(format), len(data))
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// kind names a file mode that is not a regular file.
func kind(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file (" + mode.String() + ")"
}

// detect chooses json or yaml for format auto.
func detect(path string, data []byte) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return "json"
	case ".yaml", ".yml":
		return "yaml"
	}
	if json.Valid(data) {
		return "json"
	}
	return "yaml"
}

var (
	_ adapters.Adapter        = (*Adapter)(nil)
	_ adapters.ParamValidator = (*Adapter)(nil)
	_ adapters.ParamSchemer   = (*Adapter)(nil)
	_ adapters.Describer      = (*Adapter)(nil)
	_ adapters.Idempotenter   = (*Adapter)(nil)
	_ adapters.Effecter       = (*Adapter)(nil)
)
