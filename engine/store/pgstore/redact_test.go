package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store/pgstore"
)

// A store URL's password never shows in an error (CI logs keep them),
// whether it is in the URL's user part or in a password= parameter, as
// libpq and pgx take it too.
func TestOpenErrorHidesPassword(t *testing.T) {
	for _, raw := range []string{
		"postgres://nobody:s3cret@127.0.0.1:1/x?connect_timeout=1",
		"postgres://nobody@127.0.0.1:1/x?password=s3cret&connect_timeout=1",
		"postgresql://127.0.0.1:1/x?connect_timeout=1&sslpassword=s3cret&password=s3cret",
		"postgres://127.0.0.1:1/x?password=s3cret&lease_ttl=nonsense",
		"postgres://127.0.0.1:1/x?password=s3cret&sslmode=bogus",
	} {
		_, err := pgstore.Open(context.Background(), raw)
		require.Error(t, err, raw)
		assert.NotContains(t, err.Error(), "s3cret")
		assert.Contains(t, err.Error(), "PostgreSQL store")
	}
}
