package adapters_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
)

type nop struct{ closeErr error }

func (nop) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed}, nil
}

func (n nop) Close() error { return n.closeErr }

// registered counts TestRegister's runs (go test -count) so each registers a
// new name in the global registry.
var registered atomic.Int64

func TestRegister(t *testing.T) {
	name := fmt.Sprintf("registry-test-%d", registered.Add(1))
	adapters.Register(name, func() adapters.Adapter { return nop{} })
	c, ok := adapters.Lookup(name)
	require.True(t, ok)
	assert.IsType(t, nop{}, c())
	assert.Contains(t, adapters.Names(), name)
	assert.Contains(t, adapters.FromRegistry(), name)

	assert.Panics(t, func() { adapters.Register(name, func() adapters.Adapter { return nop{} }) })
	assert.Panics(t, func() { adapters.Register("", func() adapters.Adapter { return nop{} }) })
	assert.Panics(t, func() { adapters.Register("registry-nil", nil) })
	_, ok = adapters.Lookup("registry-none")
	assert.False(t, ok)
}

func TestSet(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	s := adapters.Set{"b": nop{closeErr: second}, "a": nop{closeErr: first}, "c": nop{}}
	assert.Equal(t, []string{"a", "b", "c"}, s.Names())
	_, err := s.Open("a")
	require.NoError(t, err)
	_, err = s.Open("zzz")
	require.ErrorIs(t, err, adapters.ErrUnknownAdapter)
	assert.Contains(t, err.Error(), `"zzz"`)
	err = s.Close()
	require.ErrorIs(t, err, first)
	assert.Contains(t, err.Error(), "close a")
}

func TestParamError(t *testing.T) {
	assert.Equal(t, "bad", (&adapters.ParamError{Msg: "bad"}).Error())
	assert.Equal(t, "expect.status: bad", (&adapters.ParamError{Path: []string{"expect", "status"}, Msg: "bad"}).Error())
}
