// Package schemas embeds the JSON Schemas that are protorun's contracts: the
// protocol file format (protocol.schema.json) and the evidence files every
// step and gate writes (evidence.schema.json). Editors use the protocol
// schema through yaml-language-server.
package schemas

import _ "embed"

// Protocol is the JSON Schema (draft-07) of a protocol file.
//
//go:embed protocol.schema.json
var Protocol []byte

// Evidence is the JSON Schema (draft-07) of an evidence file.
//
//go:embed evidence.schema.json
var Evidence []byte
