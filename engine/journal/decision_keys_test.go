package journal

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestExactKeys(t *testing.T) {
	for _, tc := range []struct {
		data, refused string
	}{
		{`{"step":"a","approve":true,"by":"x","store_identity":{"role":"r","member_of":["m"]}}`, ""},
		{`{"step":"a","approve":true,"future_field":1}`, ""},
		{`{"step":"a","approve":false,"Approve":true}`, `"Approve"`},
		{`{"step":"a","APPROVE":true}`, `"APPROVE"`},
		{`{"step":"a","approve":false,"approve":true}`, `"approve" twice`},
		{`{"step":"a","\u017ftep":"b"}`, `"ſtep"`},
		{`{"store_identity":{"role":"a","Role":"b"}}`, `"store_identity.Role"`},
		{`{"store_identity":{"role":"a","member_Of":["b"]}}`, `"store_identity.member_Of"`},
		{`[1]`, ""},
	} {
		err := exactKeys([]byte(tc.data))
		if tc.refused == "" {
			assert.NoError(t, err, tc.data)
			continue
		}
		if assert.Error(t, err, tc.data) {
			assert.Contains(t, err.Error(), tc.refused)
		}
	}
}
