// Package pgtest gives tests a real PostgreSQL server: one throwaway
// cluster per test binary (scripts/pg-test-server, Debian's binaries),
// started on first use and stopped by Main, and a fresh database per test.
//
// Without PostgreSQL binaries on the machine the tests that need them skip,
// loudly; with CI=true they fail instead. PROTORUN_TEST_PG=URL uses a
// server already running (its role must be a superuser) instead of
// starting one.
package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	once    sync.Once
	started struct {
		url, dir, script string
		err              error
		missing          bool
	}
	dbs atomic.Int64
)

// Main runs the tests and stops the cluster if one was started: call it
// from TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the cluster, if this process started one.
func Stop() {
	if started.dir != "" {
		_ = exec.Command(started.script, "stop", started.dir).Run() // the reaper finds it gone
		started.dir = ""
	}
}

// binaries reports whether PostgreSQL's server binaries are installed.
func binaries() bool {
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) > 0 {
		return true
	}
	_, err := exec.LookPath("initdb")
	return err == nil
}

// psql finds PostgreSQL's client, which Exec runs: this package does not
// link a driver (only the store itself may).
func psql() (string, error) {
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql"); len(m) > 0 {
		return m[len(m)-1], nil
	}
	return exec.LookPath("psql")
}

// script finds scripts/pg-test-server above the working directory.
func script() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "pg-test-server")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("scripts/pg-test-server not found above the working directory")
		}
		dir = parent
	}
}

func start() {
	if u := os.Getenv("PROTORUN_TEST_PG"); u != "" {
		started.url = u
		return
	}
	if !binaries() {
		started.missing = true
		return
	}
	s, err := script()
	if err != nil {
		started.err = err
		return
	}
	dir, err := os.MkdirTemp("", "pgtest")
	if err != nil {
		started.err = err
		return
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(s, "start", dir)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		started.err = fmt.Errorf("start a PostgreSQL test server: %v\n%s", err, errb.String())
		return
	}
	started.url, started.dir, started.script = strings.TrimSpace(out.String()), dir, s
	// Should this process die without stopping the cluster (a test timeout
	// panics past Main; SIGKILL), a watcher outside its process group stops
	// it.
	w := exec.Command("sh", "-c", `while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" stop "$3"`,
		"pgtest-reaper", strconv.Itoa(os.Getpid()), s, dir)
	w.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if w.Start() == nil {
		go w.Wait() //nolint:errcheck // it outlives this process when needed
	}
}

// Server returns the URL of the test cluster's superuser, starting the
// cluster on first use. It skips the test (fails it under CI=true) when
// there is no PostgreSQL.
func Server(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if started.missing {
		missing(t, os.Getenv("CI") == "true")
	}
	if started.err != nil {
		t.Fatal(started.err)
	}
	return started.url
}

// missing skips t, loudly, for want of PostgreSQL; in CI it fails it.
func missing(t testing.TB, ci bool) {
	t.Helper()
	msg := "\n*** PostgreSQL is not installed: the PostgreSQL store tests DID NOT RUN ***\n" +
		"*** install it (apt-get install postgresql) or set PROTORUN_TEST_PG=URL ***"
	if ci {
		t.Fatal(msg + "\n*** CI=true: missing PostgreSQL is a failure, not a skip ***")
		return
	}
	t.Skip(msg)
}

// DB creates a fresh database for the test and returns the URL of the
// superuser in it.
func DB(t testing.TB) string {
	t.Helper()
	base := Server(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbs.Add(1))
	Exec(t, base, "CREATE DATABASE "+name)
	return WithDB(t, base, name)
}

// WithDB is url naming database name instead.
func WithDB(t testing.TB, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// AsRole is url with role instead of its user (the test cluster trusts
// every role).
func AsRole(t testing.TB, raw, role string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

// Exec runs SQL statements on the database url names, each in its own
// transaction, with psql.
func Exec(t testing.TB, url string, sql ...string) {
	t.Helper()
	bin, err := psql()
	if err != nil {
		t.Fatalf("pgtest: no psql: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range sql {
		out, err := exec.CommandContext(ctx, bin, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", q).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", q, err, out)
		}
	}
}
