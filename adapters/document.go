package adapters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"gopkg.in/yaml.v3"
)

// Decode parses a JSON or YAML document (format "json" or "yaml") as
// JSON-compatible values (Normalize): what a Result's measurements or
// details may hold, and what expressions read. JSON must be one value.
func Decode(format string, data []byte) (any, error) {
	if format == "json" {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line, col := position(data, se.Offset)
				return nil, fmt.Errorf("line %d, column %d: %w", line, col, err)
			}
			return nil, err
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("more than one JSON value")
		}
		return Normalize(v), nil
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return Normalize(v), nil
}

// Normalize makes a decoded document JSON-compatible: string keys, whole
// JSON numbers as ints, timestamps as strings, no NaN or infinities.
func Normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = Normalize(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = Normalize(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = Normalize(e)
		}
		return x
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return int(n)
		}
		f, _ := x.Float64()
		return Normalize(f)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	}
	return v
}

// position is the line and column (from 1) of the byte at offset in data,
// where a JSON syntax error was found (json.SyntaxError.Offset: just past
// the byte it could not take).
func position(data []byte, offset int64) (line, col int) {
	offset = max(0, min(offset-1, int64(len(data))))
	line, col = 1, 1
	for _, b := range data[:offset] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
