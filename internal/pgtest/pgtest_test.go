package pgtest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// fakeTB records what a test helper does to its test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Skip(args ...any)  { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Fatal(args ...any) { f.failed = fmt.Sprint(args...) }

// Without PostgreSQL a test skips and says why; under CI=true it fails.
func TestMissingServer(t *testing.T) {
	for _, tc := range []struct {
		ci           bool
		skip, failed bool
	}{{ci: false, skip: true}, {ci: true, failed: true}} {
		f := &fakeTB{}
		missing(f, tc.ci)
		assert.Equal(t, tc.skip, f.skipped != "", "ci=%v skipped", tc.ci)
		assert.Equal(t, tc.failed, f.failed != "", "ci=%v failed", tc.ci)
		assert.Contains(t, f.skipped+f.failed, "PostgreSQL is not installed")
	}
}

func TestURLs(t *testing.T) {
	u := "postgres://protorun@127.0.0.1:5432/postgres?sslmode=disable"
	assert.Equal(t, "postgres://protorun@127.0.0.1:5432/t1?sslmode=disable", WithDB(t, u, "t1"))
	assert.Equal(t, "postgres://alice@127.0.0.1:5432/postgres?sslmode=disable", AsRole(t, u, "alice"))
}
