package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/protorun/protorun/engine/store"
)

// exactKeys refuses a recorded decision whose keys another reader would
// take differently: encoding/json matches an object's keys to fields
// ignoring case (and folding ſ to s, K to k), while PostgreSQL's jsonb, and
// so the database's decision trigger, reads them exactly. {"approve":
// false, "Approve": true} is a rejection to the one and an approval to the
// other. protorun writes each key once, spelled as its field's tag, so a
// decision with a key spelled otherwise, or written twice, was not written
// by protorun and is not obeyed.
func exactKeys(raw []byte) error {
	return exactKeysOf(raw, reflect.TypeFor[Decision](), "")
}

func exactKeysOf(raw []byte, t reflect.Type, at string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: decoding it says so
	}
	names := map[string]reflect.Type{}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names[name] = f.Type
		}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil // decoding it says what is wrong
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil
		}
		for name, ft := range names {
			switch {
			case key == name && seen[name]:
				return fmt.Errorf("the decision holds key %q twice: protorun did not write it", at+key)
			case key == name:
				seen[name] = true
				if ft == reflect.TypeFor[*store.Identity]() {
					if err := exactKeysOf(val, reflect.TypeFor[store.Identity](), key+"."); err != nil {
						return err
					}
				}
			case strings.EqualFold(key, name):
				return fmt.Errorf("the decision holds key %q, which a JSON decoder may read as %q and the database does not: protorun did not write it", at+key, at+name)
			}
		}
	}
	return nil
}
