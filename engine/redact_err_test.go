package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// An error a run returns never carries a secret, and still unwraps.
func TestRedactErr(t *testing.T) {
	r := &Runner{red: newRedactor([]string{"hunter2"})}
	err := r.redactErr(fmt.Errorf("step %q: when: invalid operation: int(%s): %w", "echo", "hunter2", ErrInterrupted))
	require.NotContains(t, err.Error(), "hunter2")
	require.Contains(t, err.Error(), "[REDACTED]")
	require.True(t, errors.Is(err, ErrInterrupted))
	plain := errors.New("nothing secret")
	require.Same(t, plain, r.redactErr(plain))
	require.NoError(t, r.redactErr(nil))
}
