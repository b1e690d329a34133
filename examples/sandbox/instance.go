package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const slowDelay = 150 * time.Millisecond

// Version suffixes that make the example service misbehave.
const (
	suffixUnhealthy = "-unhealthy" // /healthz answers 503
	markerBroken    = "-broken"    // /api/* answer 500
	markerSlow      = "-slow"      // +150ms on everything but /healthz
	markerAlerting  = "-alerting"  // the admin API reports a critical alert; its dependency calls fail (metrics)
)

func isUnhealthy(v string) bool { return strings.HasSuffix(v, suffixUnhealthy) }
func isBroken(v string) bool    { return strings.Contains(v, markerBroken) }
func isSlow(v string) bool      { return strings.Contains(v, markerSlow) }
func isAlerting(v string) bool  { return strings.Contains(v, markerAlerting) }

// runInstance implements the internal "instance" subcommand: one process of
// the example service. Its first stdout line is the address it listens on.
func runInstance(args []string) error {
	fs := flag.NewFlagSet("instance", flag.ContinueOnError)
	version := fs.String("version", "", "service version to report")
	listen := fs.String("listen", "127.0.0.1:0", "listen address (127.0.0.1 only)")
	env := fs.String("environment", "", "environment name (for logs)")
	parentPID := fs.Int("parent-pid", 0, "exit when this process is no longer the parent")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "graceful shutdown limit")
	faultList := fs.String("fault", "", "comma-separated faults (unhealthy, broken, slow, alerting) on top of the version's suffixes")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if err := checkVersion(*version); err != nil {
		return err
	}
	var faults []string
	if *faultList != "" {
		var err error
		if faults, err = checkFaults(strings.Split(*faultList, ",")); err != nil {
			return fmt.Errorf("--fault: %w", err)
		}
	}
	if err := checkLoopbackAddr(*listen, true); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	logger := log.New(os.Stderr, fmt.Sprintf("instance %s %s pid=%d: ", *env, *version, os.Getpid()), log.LstdFlags|log.Lmicroseconds)

	// Interrupts from a terminal go to the whole process group; the
	// supervisor decides when instances stop, so only SIGTERM counts here.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: newServiceHandler(*version, faults), ReadHeaderTimeout: 10 * time.Second}
	// First (and only) stdout line: the address, read by the supervisor.
	if _, err := fmt.Fprintln(os.Stdout, ln.Addr().String()); err != nil {
		return fmt.Errorf("report address: %w", err)
	}
	logger.Printf("listening on %s", ln.Addr())

	if *parentPID > 0 {
		go watchParent(ctx, *parentPID, stop)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Printf("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Printf("shutdown: %v", err)
		return nil
	}
	logger.Printf("stopped")
	return nil
}

// watchParent is a portable fallback to Pdeathsig: stop when reparented.
func watchParent(ctx context.Context, ppid int, stop func()) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != ppid {
				stop()
				return
			}
		}
	}
}

// newServiceHandler serves the example service as version, misbehaving as
// its suffixes and faults say.
func newServiceHandler(version string, faults []string) http.Handler {
	b := behaviourOf(version, faults)
	items := []map[string]any{
		{"id": 1, "name": "widget", "price": 9.99},
		{"id": 2, "name": "gadget", "price": 24.5},
	}
	orders := []map[string]any{
		{"id": 1001, "item": 1, "quantity": 3, "state": "shipped"},
		{"id": 1002, "item": 2, "quantity": 1, "state": "pending"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Service-Version", version)
		// Every request calls the service's dependency; an alerting
		// instance's calls fail and it answers from a fallback, so only
		// its metrics show it (see metrics.go).
		if b.alerting {
			w.Header().Set(dependencyHeader, "error")
		} else {
			w.Header().Set(dependencyHeader, "ok")
		}
		if r.URL.Path != "/healthz" && b.slow {
			select {
			case <-time.After(slowDelay):
			case <-r.Context().Done():
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "method not allowed", "version": version})
			return
		}
		switch r.URL.Path {
		case "/healthz":
			if b.unhealthy {
				writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "failing", "version": version, "reason": reason(version, faultUnhealthy)})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": version})
		case "/version":
			writeJSON(w, http.StatusOK, map[string]any{"version": version})
		case "/api/items", "/api/orders":
			if b.broken {
				writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "internal error (" + reason(version, faultBroken) + ")", "version": version})
				return
			}
			data := items
			if r.URL.Path == "/api/orders" {
				data = orders
			}
			writeJSON(w, http.StatusOK, map[string]any{"version": version, "data": data})
		case "/":
			writeJSON(w, http.StatusOK, map[string]any{"service": "sandbox-example", "version": version,
				"endpoints": []string{"/healthz", "/version", "/api/items", "/api/orders"}})
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found", "path": r.URL.Path, "version": version})
		}
	})
}

// reason says why an instance misbehaves: its version's suffix or a fault
// set for the environment.
// It is called only when the instance does misbehave that way.
func reason(version, marker string) string {
	if (marker == faultUnhealthy && isUnhealthy(version)) || (marker == faultBroken && isBroken(version)) {
		return "version is marked -" + marker
	}
	return "fault " + marker + " set for this environment"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"encoding response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
