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
	// The holder writes its record just after it takes the lock: a record
	// missing, or left by a holder that died, is read again for a moment
	// (up to grace past the deadline) so that the error names who holds it.
	grace := deadline.Add(2 * time.Second)
	for {
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", env, err)
		}
		if ok {
			break
		}
		poll := 200 * time.Millisecond
		if now := time.Now(); !now.Before(deadline) {
			h, known := readHolder(info)
			if known || !now.Before(grace) {
				who := "another process that has not recorded which run it is (" + info + ")"
				if known {
					who = fmt.Sprintf("run %s (pid %d, since %s)", h.Run, h.Pid, h.Started.Format(time.RFC3339))
				}
				return nil, fmt.Errorf("%w: %s is held by %s; wait for it with --wait-lock DURATION", ErrLocked, env, who)
			}
			poll = 20 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
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
	if err := writeHolder(info, holder); err != nil {
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

// writeHolder records who holds a lock. The record only serves messages
// (the flock is the lock), so it is replaced atomically, by a rename, but
// not fsynced: two fsyncs per environment and run start were a tenth of the
// journal's. After a power loss a missing or empty record reads as unknown,
// and the next holder writes its own. Only the lock's holder writes it, so
// a temporary name by pid is its own.
func writeHolder(path string, h LockHolder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// readHolder reads a lock's holder record; known is false when there is
// none (yet) or the process it names is dead.
func readHolder(path string) (h LockHolder, known bool) {
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &h) != nil {
		return LockHolder{}, false
	}
	return h, h.Run != "" && h.Pid != 0 && alive(h.Pid)
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
