package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// ErrLocked is wrapped by the error a run gets when another run holds an
// environment it deploys to.
var ErrLocked = errors.New("environment locked by another run")

// LockHolder says who holds an environment lock.
type LockHolder struct {
	Run     string    `json:"run"`
	Pid     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// Locker grants a run exclusive use of an environment for as long as the
// run's process drives it. Lock returns a function that releases the lock.
type Locker interface {
	Lock(ctx context.Context, env string, holder LockHolder, wait time.Duration) (func(), error)
}

// Lock implements Locker with a gofrs/flock file per environment under
// locks/ in the state directory. The kernel releases a flock when its
// holder dies, so a lock is never held by a dead process; a holder record
// left by a process that died is reported, then replaced.
func (s *FileStore) Lock(ctx context.Context, env string, holder LockHolder, wait time.Duration) (func(), error) {
	dir := filepath.Join(s.Dir, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", env, err)
	}
	fl := flock.New(filepath.Join(dir, env+".lock"))
	info := filepath.Join(dir, env+".json")
	deadline := time.Now().Add(wait)
	for {
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", env, err)
		}
		if ok {
			break
		}
		if !time.Now().Before(deadline) {
			var h LockHolder
			b, _ := os.ReadFile(info)
			_ = json.Unmarshal(b, &h)
			return nil, fmt.Errorf("%w: %s is held by run %s (pid %d, since %s); wait for it with --wait-lock DURATION",
				ErrLocked, env, h.Run, h.Pid, h.Started.Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	var stale string
	if b, err := os.ReadFile(info); err == nil {
		var h LockHolder
		if json.Unmarshal(b, &h) == nil && h.Pid != 0 && !alive(h.Pid) {
			stale = fmt.Sprintf("lock %s: previous holder run %s (pid %d, since %s) died without releasing it; taking over",
				env, h.Run, h.Pid, h.Started.Format(time.RFC3339))
		}
	}
	if err := WriteJSONAtomic(info, holder); err != nil {
		fl.Unlock()
		return nil, fmt.Errorf("lock %s: %w", env, err)
	}
	if stale != "" {
		fmt.Fprintln(os.Stderr, "protorun:", stale)
	}
	return func() {
		os.Remove(info)
		fl.Unlock()
	}, nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

var _ Locker = (*FileStore)(nil)

// deployEnvs lists the environments the protocol's deploy steps change.
func deployEnvs(p *Protocol) []string {
	seen := map[string]bool{}
	for _, s := range p.plan.Steps {
		if s.Deploy {
			for _, t := range s.Targets {
				seen[t] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for e := range seen {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// lockEnvs takes the run's environment locks, in name order so two runs
// never deadlock, and returns the function that releases them all.
func (r *Runner) lockEnvs(ctx context.Context) (func(), error) {
	l, ok := r.store.(Locker)
	if !ok || r.opts.DryRun {
		return func() {}, nil
	}
	var unlocks []func()
	release := func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	h := LockHolder{Run: r.st.ID, Pid: os.Getpid(), Started: r.now()}
	for _, env := range deployEnvs(r.p) {
		u, err := l.Lock(ctx, env, h, r.opts.WaitLock)
		if err != nil {
			release()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}
	return release, nil
}
