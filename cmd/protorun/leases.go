package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/store"
)

// leaseHint adds to an error refusing a lease what the user can do.
func leaseHint(err error) error {
	var le *store.EnvLeasedError
	switch {
	case errors.As(err, &le):
		return fmt.Errorf("%w: protorun abort %s, or wait for it with --wait-lock DURATION", err, le.Run)
	case errors.Is(err, store.ErrRunLeased):
		return fmt.Errorf("%w; wait for it with --wait-lock DURATION", err)
	}
	return err
}

// holdings are the environments each run holds, by run, as the store
// leases them (none for a store without environment leases).
type holdings map[string][]store.EnvLease

func readHoldings(ctx context.Context, st store.Store) holdings {
	h := holdings{}
	l, ok := st.(store.EnvLeaser)
	if !ok {
		return h
	}
	leases, err := l.EnvLeases(ctx)
	if err != nil {
		return h // shown as holding nothing: runs and status still show the runs
	}
	for _, e := range leases {
		h[e.Run] = append(h[e.Run], e)
	}
	return h
}

// fill sets what the run holds and who drives it now.
func (h holdings) fill(ctx context.Context, st store.Store, s *runSummary) {
	for _, l := range h[s.ID] {
		s.Holds = append(s.Holds, l.Env)
		if s.HoldsSince.IsZero() || l.Since.Before(s.HoldsSince) {
			s.HoldsSince = l.Since
		}
	}
	if l, ok := st.(store.RunLeaser); ok {
		s.Driver, _ = l.RunDriver(ctx, s.ID)
	}
}

// holdsColumn is the HOLDS column of protorun runs.
func (s *runSummary) holdsColumn() string {
	if len(s.Holds) == 0 {
		return "-"
	}
	return strings.Join(s.Holds, ",")
}

// holdsLines are the Holds: and Driver: lines of protorun status.
func (s *runSummary) holdsLines() string {
	var b strings.Builder
	if len(s.Holds) > 0 {
		fmt.Fprintf(&b, "Holds:    %s (since %s)\n", strings.Join(s.Holds, ", "), s.HoldsSince.Local().Format(time.RFC3339))
	}
	if d := s.Driver; d != nil {
		fmt.Fprintf(&b, "Driver:   pid %d", d.Pid)
		if d.Host != "" {
			fmt.Fprintf(&b, " on host %s", d.Host)
		}
		fmt.Fprintf(&b, " since %s\n", d.Since.Local().Format(time.RFC3339))
	}
	return b.String()
}

// lostLease is what the user reads of a run that stopped because another
// process took it over (store.ErrLeaseLost); it wraps the store's error.
type lostLease struct {
	msg string
	err error
}

func (e *lostLease) Error() string { return e.msg }
func (e *lostLease) Unwrap() error { return e.err }

// leaseLost says that another process took the run over while this one
// was not renewing its lease (paused, cut off from the store): this
// process stopped and wrote nothing more, as an interrupted run does, and
// the run is the new driver's.
func leaseLost(err error) error {
	var ll *store.LeaseLostError
	if !errors.As(err, &ll) {
		return &lostLease{msg: "another process took the run over: " + err.Error(), err: err}
	}
	msg := fmt.Sprintf("run %s stopped: another process took the run over while this one was not renewing its lease; ", ll.Run)
	if ll.Holder != nil {
		msg += fmt.Sprintf("%s drives it now. This process wrote nothing more; see where the run stands with protorun status %s", ll.Holder, ll.Run)
	} else {
		msg += fmt.Sprintf("that process has let it go since. This process wrote nothing more; protorun resume %s goes on from where its journal ends", ll.Run)
	}
	return &lostLease{msg: msg, err: err}
}
