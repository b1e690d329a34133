package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Instance states reported by the admin API.
const (
	stateStarting = "starting"
	stateActive   = "active"
	stateDraining = "draining"
)

// instance is one child process running the example service.
type instance struct {
	env     string
	version string
	faults  []string // faults set for the version in env when it started
	pid     int
	addr    string
	started time.Time
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and was reaped
	exitErr error         // valid after done is closed
	state   atomic.Value  // string
}

func (i *instance) State() string {
	s, _ := i.state.Load().(string)
	return s
}

func (i *instance) exited() bool {
	select {
	case <-i.done:
		return true
	default:
		return false
	}
}

// environment is one deployment target: a front proxy, an admin API and the
// instances behind them.
type environment struct {
	name string
	cfg  EnvConfig
	sup  *supervisor

	deployMu sync.Mutex           // serializes deploys and rollbacks
	pool     atomic.Pointer[pool] // what the proxy routes to

	mu        sync.Mutex // guards the fields below
	current   string
	previous  string
	since     time.Time // when current went live
	instances map[int]*instance
	closed    bool
	// faults maps a version to the faults it has here (POST /fault);
	// currentFaults are those the serving instances started with.
	faults        map[string][]string
	currentFaults []string

	idem *idempotencyStore
	// metrics are what the proxy serves on /metrics.
	metrics *envMetrics
}

// supervisor owns all environments of one running sandbox.
type supervisor struct {
	cfg  *Config
	log  *log.Logger
	ctx  context.Context // cancelled on shutdown
	envs map[string]*environment
}

func (e *environment) logf(format string, args ...any) {
	e.sup.log.Printf("[%s] "+format, append([]any{e.name}, args...)...)
}

// startInstance launches one instance of version, with faults, and waits
// until it reports its listen address.
func (e *environment) startInstance(version string, faults []string) (*instance, error) {
	exe, err := selfExe()
	if err != nil {
		return nil, fmt.Errorf("locate sandbox binary: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "instance",
		"--version", version,
		"--listen", "127.0.0.1:0",
		"--environment", e.name,
		"--parent-pid", strconv.Itoa(os.Getpid()),
		"--shutdown-timeout", e.sup.cfg.DrainTimeout.String(),
	)
	if len(faults) > 0 {
		cmd.Args = append(cmd.Args, "--fault", strings.Join(faults, ","))
	}
	cmd.Args[0] = "sandbox"
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = instanceSysProcAttr()

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = r.Close()
		_ = w.Close()
		return nil, errors.New("sandbox is shutting down")
	}
	err = cmd.Start()
	_ = w.Close()
	if err != nil {
		e.mu.Unlock()
		_ = r.Close()
		return nil, fmt.Errorf("start instance: %w", err)
	}
	inst := &instance{env: e.name, version: version, faults: faults, pid: cmd.Process.Pid, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	inst.state.Store(stateStarting)
	e.instances[inst.pid] = inst
	e.mu.Unlock()

	go func() {
		inst.exitErr = cmd.Wait()
		close(inst.done)
		e.mu.Lock()
		delete(e.instances, inst.pid)
		closed := e.closed
		e.mu.Unlock()
		if inst.State() == stateActive && !closed {
			e.logf("instance pid=%d (%s) exited unexpectedly: %v", inst.pid, inst.version, exitText(inst.exitErr))
		}
	}()

	lines := make(chan string, 1)
	go func() {
		defer func() { _ = r.Close() }()
		br := bufio.NewReader(r)
		line, _ := br.ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, br) // never let the instance block on stdout
	}()
	select {
	case line := <-lines:
		if _, _, err := net.SplitHostPort(line); err != nil || line == "" {
			e.killInstance(inst)
			<-inst.done
			return nil, fmt.Errorf("instance pid=%d did not report its address (got %q): %s", inst.pid, line, exitText(inst.exitErr))
		}
		e.mu.Lock()
		inst.addr = line
		e.mu.Unlock()
	case <-time.After(5 * time.Second):
		e.killInstance(inst)
		return nil, fmt.Errorf("instance pid=%d did not report its address within 5s", inst.pid)
	}
	e.logf("started instance pid=%d version=%s on %s", inst.pid, version, inst.addr)
	return inst, nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (e *environment) killInstance(inst *instance) {
	if !inst.exited() {
		_ = inst.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// stopInstance stops an instance gracefully (SIGTERM: the instance finishes
// in-flight requests), falling back to SIGKILL after grace.
func (e *environment) stopInstance(inst *instance, grace time.Duration) {
	if inst.exited() {
		return
	}
	_ = inst.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-inst.done:
	case <-time.After(grace):
		e.logf("instance pid=%d did not stop within %s; killing", inst.pid, grace)
		_ = inst.cmd.Process.Signal(syscall.SIGKILL)
		<-inst.done
	}
}

// waitHealthy polls the instance's /healthz until it answers 200.
func (e *environment) waitHealthy(ctx context.Context, inst *instance, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		resp, err := client.Get("http://" + inst.addr + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return errors.New("sandbox is shutting down")
		case <-inst.done:
			return fmt.Errorf("instance pid=%d exited before becoming healthy: %s", inst.pid, exitText(inst.exitErr))
		case <-deadline.C:
			return fmt.Errorf("instance pid=%d version %s not healthy after %s (last /healthz: %s)", inst.pid, inst.version, timeout, last)
		case <-tick.C:
		}
	}
}

// startInstances starts n instances of version, with the faults set for
// it here now, in parallel; on error, all of them are killed.
func (e *environment) startInstances(version string, n int) ([]*instance, error) {
	faults := e.faultsFor(version)
	insts := make([]*instance, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { insts[i], errs[i] = e.startInstance(version, faults) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, inst := range insts {
			if inst != nil {
				e.killInstance(inst)
			}
		}
		return nil, err
	}
	return insts, nil
}

// start brings up the initial version. It does not require the version to be
// healthy: an environment may deliberately start with a failing version.
func (e *environment) start() error {
	insts, err := e.startInstances(e.cfg.Version, e.cfg.Replicas)
	if err != nil {
		return fmt.Errorf("environment %s: %w", e.name, err)
	}
	p := &pool{version: e.cfg.Version}
	for _, inst := range insts {
		inst.state.Store(stateActive)
		p.backends = append(p.backends, newBackend(e, inst))
	}
	e.metrics.goLive(e.cfg.Version, "")
	e.pool.Store(p)
	e.mu.Lock()
	e.current, e.since, e.currentFaults = e.cfg.Version, time.Now(), insts[0].faults
	e.mu.Unlock()
	e.logf("serving version %s on proxy %s (%d instance(s))", e.cfg.Version, e.cfg.Proxy, len(insts))
	return nil
}

// deployResult is the JSON answer of /deploy and /rollback.
type deployResult struct {
	Status      string `json:"status"`
	Environment string `json:"environment"`
	Version     string `json:"version"`
	Previous    string `json:"previous"`
	Current     string `json:"current,omitempty"` // on failure: what keeps serving
	Snapshot    string `json:"snapshot,omitempty"`
	DurationMS  int64  `json:"duration_ms"`
	Error       string `json:"error,omitempty"`
}

// deploy performs a zero-downtime rollout of version: start new instances,
// wait for health, switch the proxy atomically, drain and stop the old ones.
func (e *environment) deploy(version, what string) (deployResult, bool) {
	e.deployMu.Lock()
	defer e.deployMu.Unlock()
	began := time.Now()
	e.mu.Lock()
	old := e.current
	e.mu.Unlock()
	res := deployResult{Environment: e.name, Version: version, Previous: old}
	fail := func(err error) (deployResult, bool) {
		res.Status, res.Error, res.Current = "failed", err.Error(), old
		res.DurationMS = time.Since(began).Milliseconds()
		e.logf("%s %s: FAILED after %dms: %v (still serving %s)", what, version, res.DurationMS, err, old)
		return res, false
	}

	e.logf("%s %s: step 1/4 start %d instance(s) (current %s)", what, version, e.cfg.Replicas, old)
	insts, err := e.startInstances(version, e.cfg.Replicas)
	if err != nil {
		return fail(err)
	}
	e.logf("%s %s: step 2/4 wait for /healthz (timeout %s)", what, version, e.sup.cfg.HealthTimeout)
	herrs := make([]error, len(insts))
	var wg sync.WaitGroup
	for i, inst := range insts {
		wg.Go(func() { herrs[i] = e.waitHealthy(e.sup.ctx, inst, e.sup.cfg.HealthTimeout) })
	}
	wg.Wait()
	if err := errors.Join(herrs...); err != nil {
		for _, inst := range insts {
			e.killInstance(inst)
			<-inst.done
		}
		return fail(err)
	}

	next := &pool{version: version}
	for _, inst := range insts {
		next.backends = append(next.backends, newBackend(e, inst))
	}
	e.mu.Lock()
	for _, inst := range insts {
		inst.state.Store(stateActive)
	}
	e.metrics.goLive(version, old)
	prev := e.pool.Swap(next)
	e.previous, e.current, e.since, e.currentFaults = old, version, time.Now(), insts[0].faults
	e.mu.Unlock()
	e.logf("%s %s: step 3/4 proxy switched to %s (healthy after %dms)", what, version, version, time.Since(began).Milliseconds())

	if prev != nil {
		var dwg sync.WaitGroup
		for _, b := range prev.backends {
			b.inst.state.Store(stateDraining)
			dwg.Go(func() {
				if !b.drain(e.sup.cfg.DrainTimeout) {
					e.logf("%s %s: pid=%d still had %d request(s) after %s", what, version, b.inst.pid, b.inflight.Load(), e.sup.cfg.DrainTimeout)
				}
				e.stopInstance(b.inst, e.sup.cfg.DrainTimeout+2*time.Second)
			})
		}
		dwg.Wait()
		e.mu.Lock()
		if prev.version != e.current {
			e.metrics.forget(prev.version)
		}
		e.mu.Unlock()
	}
	res.Status = "deployed"
	res.DurationMS = time.Since(began).Milliseconds()
	e.logf("%s %s: step 4/4 old instances drained and stopped; done in %dms (previous %s)", what, version, res.DurationMS, old)
	return res, true
}

// shutdown stops every instance of the environment.
func (e *environment) shutdown(grace time.Duration) {
	e.mu.Lock()
	e.closed = true
	insts := make([]*instance, 0, len(e.instances))
	for _, inst := range e.instances {
		insts = append(insts, inst)
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, inst := range insts {
		wg.Go(func() { e.stopInstance(inst, grace) })
	}
	wg.Wait()
}

// instanceInfo is one instance in /status.
type instanceInfo struct {
	PID     int      `json:"pid"`
	Addr    string   `json:"addr"`
	Version string   `json:"version"`
	Faults  []string `json:"faults,omitempty"`
	State   string   `json:"state"`
	Started string   `json:"started"`
}

// envStatus is the JSON answer of GET /status.
type envStatus struct {
	Environment string         `json:"environment"`
	Version     string         `json:"version"`
	Previous    string         `json:"previous"`
	Since       string         `json:"since"`
	Healthy     bool           `json:"healthy"`
	Proxy       string         `json:"proxy"`
	Admin       string         `json:"admin"`
	Replicas    int            `json:"replicas"`
	Instances   []instanceInfo `json:"instances"`
	// Faults are the faults set per version (POST /fault).
	Faults map[string][]string `json:"faults"`
}

func (e *environment) status() envStatus {
	e.mu.Lock()
	st := envStatus{
		Environment: e.name, Version: e.current, Previous: e.previous,
		Since: e.since.UTC().Format(time.RFC3339), Proxy: e.cfg.Proxy, Admin: e.cfg.Admin,
		Replicas: e.cfg.Replicas, Instances: []instanceInfo{}, Faults: e.faultTable(),
	}
	for _, inst := range e.instances {
		if inst.addr == "" {
			continue
		}
		st.Instances = append(st.Instances, instanceInfo{PID: inst.pid, Addr: inst.addr, Version: inst.version, Faults: inst.faults,
			State: inst.State(), Started: inst.started.UTC().Format(time.RFC3339)})
	}
	e.mu.Unlock()
	sort.Slice(st.Instances, func(a, b int) bool { return st.Instances[a].PID < st.Instances[b].PID })

	// Healthy: every instance the proxy routes to answers /healthz with 200.
	p := e.pool.Load()
	if p == nil || len(p.backends) == 0 {
		return st
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ok := make([]bool, len(p.backends))
	var wg sync.WaitGroup
	for i, b := range p.backends {
		wg.Go(func() {
			resp, err := client.Get("http://" + b.inst.addr + "/healthz")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				ok[i] = resp.StatusCode == http.StatusOK
			}
		})
	}
	wg.Wait()
	st.Healthy = true
	for _, v := range ok {
		st.Healthy = st.Healthy && v
	}
	return st
}
