package tcp_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/adapterstest"
	"github.com/protorun/protorun/adapters/tcp"
)

// listen returns the address of a listener on 127.0.0.1 that accepts.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// closedPort returns an address on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// stalled returns the address of a listener that never accepts and whose
// accept queue is full, so a new connection attempt hangs (the kernel drops
// its SYN); or "" when this system does not let the queue fill.
func stalled(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the accept queue; stop once a connection attempt hangs.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	return ""
}

func TestConformance(t *testing.T) {
	var slow map[string]any
	if addr := stalled(t); addr != "" {
		slow = map[string]any{"address": addr, "timeout": "1m"}
	}
	adapterstest.Run(t, tcp.New(), adapterstest.Kit{
		Good: map[string]any{"address": listen(t)},
		Slow: slow,
		Valid: []map[string]any{
			{"address": "{env.db}"},
			{"address": "db:{vars.port}", "timeout": "{vars.timeout}"},
		},
		Bad: []map[string]any{
			{"address": 5},
			{"address": "no-port"},
			{"timeout": "5s"},
			{"address": "127.0.0.1:1", "timeout": 5},
			{"address": "127.0.0.1:1", "timeout": "soon"},
			{"addr": "127.0.0.1:1"},
		},
	})
}

func TestRun(t *testing.T) {
	open, closed := listen(t), closedPort(t)
	_, port, _ := net.SplitHostPort(open)
	type testCase struct {
		name    string
		params  map[string]any
		status  adapters.Status
		message string
	}
	tests := []testCase{
		{"open port", map[string]any{"address": open}, adapters.Passed, "connected to"},
		{"open port by name", map[string]any{"address": "localhost:" + port}, adapters.Passed, "connected to"},
		{"refused", map[string]any{"address": closed}, adapters.Failed, "connection refused"},
		{"unresolvable", map[string]any{"address": "nothing.invalid:80"}, adapters.Failed, "cannot resolve"},
	}
	a := tcp.New()
	// No DNS traffic leaves the machine: names not in the hosts file fail.
	a.Resolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	if addr := stalled(t); addr != "" {
		tests = append(tests, testCase{"stalled times out", map[string]any{"address": addr, "timeout": "300ms"}, adapters.Failed, "timed out after 300ms"})
	} else {
		t.Log("cannot make a stalled listener here: timeout case not run")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := a.Run(context.Background(), &adapters.Request{Params: tt.params})
			require.NoError(t, err)
			assert.Equal(t, tt.status, res.Status, res.Message)
			assert.Contains(t, res.Message, tt.message)
			assert.Equal(t, tt.params["address"], res.Measurements["address"])
			assert.Equal(t, tt.status == adapters.Passed, res.Measurements["reachable"])
			for _, k := range []string{"dns_ms", "connect_ms"} {
				assert.IsType(t, 0.0, res.Measurements[k], k)
			}
			if tt.status == adapters.Passed {
				assert.Contains(t, res.Measurements["resolved"], "127.0.0.1:")
			}
		})
	}
}

func TestValidateParams(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		path   []string // nil: valid
	}{
		{"valid", map[string]any{"address": "db:5432", "timeout": "2s"}, nil},
		{"placeholder address", map[string]any{"address": "{env.db}"}, nil},
		{"placeholder timeout", map[string]any{"address": "db:5432", "timeout": "{vars.t}"}, nil},
		{"ipv6", map[string]any{"address": "[::1]:80"}, nil},
		{"missing address", map[string]any{}, []string{"address"}},
		{"no port", map[string]any{"address": "db"}, []string{"address"}},
		{"number timeout", map[string]any{"address": "db:1", "timeout": 5}, []string{"timeout"}},
		{"negative timeout", map[string]any{"address": "db:1", "timeout": "-1s"}, []string{"timeout"}},
		{"unknown", map[string]any{"address": "db:1", "port": 5}, []string{"port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tcp.New().ValidateParams(tt.params)
			if tt.path == nil {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1, "%v", errs)
			assert.Equal(t, tt.path, errs[0].Path)
		})
	}
}

func TestRegistered(t *testing.T) {
	c, ok := adapters.Lookup("tcp")
	require.True(t, ok)
	assert.IsType(t, &tcp.Adapter{}, c())
}

func TestRunBadParamsIsError(t *testing.T) {
	_, err := tcp.New().Run(context.Background(), &adapters.Request{Params: map[string]any{"address": 1}})
	require.ErrorIs(t, err, adapters.ErrBadParams)
}
