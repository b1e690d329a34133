package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

const (
	upTimeout     = 15 * time.Second
	downGrace     = 15 * time.Second
	pidFileName   = "sandbox.pid"
	logFileName   = "sandbox.log"
	logTailLines  = 30
	shutdownGrace = 5 * time.Second
)

func pidFilePath(cfg *Config) string { return filepath.Join(cfg.StateDir, pidFileName) }
func logFilePath(cfg *Config) string { return filepath.Join(cfg.StateDir, logFileName) }

func readPIDFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: invalid content %q", path, strings.TrimSpace(string(data)))
	}
	return pid, nil
}

// runningPID returns the pid of a live supervisor recorded in the pid file,
// or 0.
func runningPID(cfg *Config) int {
	pid, err := readPIDFile(pidFilePath(cfg))
	if err != nil {
		return 0
	}
	if alive, sup := processState(pid); alive && sup {
		return pid
	}
	return 0
}

type alreadyRunningError struct {
	pid  int
	path string
}

func (e alreadyRunningError) Error() string {
	return fmt.Sprintf("sandbox already running (pid %d, pid file %s); run `down` first", e.pid, e.path)
}

// claimPIDFile creates the pid file with our pid, replacing a stale one.
func claimPIDFile(path string) error {
	for range 3 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := fmt.Fprintf(f, "%d\n", os.Getpid())
			return errors.Join(werr, f.Close())
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("pid file: %w", err)
		}
		if pid, rerr := readPIDFile(path); rerr == nil && pid != os.Getpid() {
			if alive, sup := processState(pid); alive && sup {
				return alreadyRunningError{pid, path}
			}
		}
		_ = os.Remove(path) // stale
	}
	return fmt.Errorf("pid file %s: could not claim", path)
}

func removePIDFileIfOurs(path string, pid int) {
	if got, err := readPIDFile(path); err == nil && got == pid {
		_ = os.Remove(path)
	}
}

// checkPortsFree gives a clear error for addresses that are already taken.
func checkPortsFree(cfg *Config) error {
	var errs []error
	for _, name := range cfg.EnvNames() {
		ec := cfg.Environments[name]
		for _, a := range []struct{ field, addr string }{{"proxy", ec.Proxy}, {"admin", ec.Admin}} {
			ln, err := net.Listen("tcp", a.addr)
			if err != nil {
				errs = append(errs, listenError(name, a.field, a.addr, err))
				continue
			}
			_ = ln.Close()
		}
	}
	return errors.Join(errs...)
}

func listenError(env, field, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("environment %s: %s address %s: port already in use", env, field, addr)
	}
	return fmt.Errorf("environment %s: %s address %s: %v", env, field, addr, err)
}

// runUpBackground re-executes the sandbox as a detached supervisor and waits
// until every environment answers.
func runUpBackground(cfg *Config, overrides []string, stdout io.Writer) error {
	if pid := runningPID(cfg); pid != 0 {
		return alreadyRunningError{pid, pidFilePath(cfg)}
	}
	if err := checkPortsFree(cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	logPath := logFilePath(cfg)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	var offset int64
	if fi, err := logf.Stat(); err == nil {
		offset = fi.Size()
	}
	exe, err := selfExe()
	if err != nil {
		_ = logf.Close()
		return err
	}
	args := []string{"up", "--foreground", "--config", cfg.Path}
	for _, o := range overrides {
		args = append(args, "--version", o)
	}
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = "sandbox"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = daemonSysProcAttr()
	err = cmd.Start()
	_ = logf.Close()
	if err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(upTimeout)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("sandbox exited during startup (%s); log %s:\n%s", exitText(err), logPath, logTail(logPath, offset))
		case <-time.After(100 * time.Millisecond):
		}
		if ready, lines := checkReady(cfg, pid); ready {
			fmt.Fprintf(stdout, "sandbox up (pid %d, log %s)\n", pid, logPath)
			for _, l := range lines {
				fmt.Fprintln(stdout, l)
			}
			_ = cmd.Process.Release()
			return nil
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-exited
			removePIDFileIfOurs(pidFilePath(cfg), pid)
			return fmt.Errorf("sandbox not ready after %s (killed pid %d); log %s:\n%s", upTimeout, pid, logPath, logTail(logPath, offset))
		}
	}
}

// checkReady: the pid file names the new supervisor, every admin API answers
// and every proxy forwards /healthz to an instance (200, or 503 for a version
// that deliberately starts unhealthy).
func checkReady(cfg *Config, pid int) (bool, []string) {
	if got, err := readPIDFile(pidFilePath(cfg)); err != nil || got != pid {
		return false, nil
	}
	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	var lines []string
	for _, name := range cfg.EnvNames() {
		ec := cfg.Environments[name]
		resp, err := client.Get("http://" + ec.Admin + "/healthz")
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		resp, err = client.Get("http://" + ec.Proxy + "/healthz")
		if err != nil {
			return false, nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		v := resp.Header.Get("X-Service-Version")
		if v == "" {
			return false, nil
		}
		health := "healthy"
		if resp.StatusCode != http.StatusOK {
			health = fmt.Sprintf("UNHEALTHY (/healthz %d)", resp.StatusCode)
		}
		lines = append(lines, fmt.Sprintf("  %-12s proxy http://%s  admin http://%s  version %s  %s", name, ec.Proxy, ec.Admin, v, health))
	}
	return true, lines
}

func logTail(path string, offset int64) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	if offset > 0 && offset <= int64(len(data)) {
		data = data[offset:]
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// runForeground is the supervisor itself.
func runForeground(cfg *Config) error {
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	pidPath := pidFilePath(cfg)
	if err := claimPIDFile(pidPath); err != nil {
		return err
	}
	defer removePIDFileIfOurs(pidPath, os.Getpid())

	logger := log.New(os.Stderr, "sandbox: ", log.LstdFlags|log.Lmicroseconds)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sup := &supervisor{cfg: cfg, log: logger, ctx: ctx, envs: map[string]*environment{}}
	logger.Printf("starting (pid %d, config %s, state_dir %s)", os.Getpid(), cfg.Path, cfg.StateDir)

	// Bind every address first so a taken port fails fast and clearly.
	type listeners struct{ proxy, admin net.Listener }
	lns := map[string]listeners{}
	closeAll := func() {
		for _, l := range lns {
			if l.proxy != nil {
				_ = l.proxy.Close()
			}
			if l.admin != nil {
				_ = l.admin.Close()
			}
		}
	}
	for _, name := range cfg.EnvNames() {
		ec := cfg.Environments[name]
		var l listeners
		var err error
		if l.proxy, err = net.Listen("tcp", ec.Proxy); err != nil {
			closeAll()
			return listenError(name, "proxy", ec.Proxy, err)
		}
		lns[name] = l
		if l.admin, err = net.Listen("tcp", ec.Admin); err != nil {
			closeAll()
			return listenError(name, "admin", ec.Admin, err)
		}
		lns[name] = l
		sup.envs[name] = &environment{name: name, cfg: *ec, sup: sup, instances: map[int]*instance{}, idem: newIdempotencyStore(),
			metrics: newEnvMetrics(name)}
	}

	shutdownEnvs := func() {
		var wg sync.WaitGroup
		for _, e := range sup.envs {
			wg.Go(func() { e.shutdown(shutdownGrace) })
		}
		wg.Wait()
	}
	var startErrs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, e := range sup.envs {
		wg.Go(func() {
			if err := e.start(); err != nil {
				mu.Lock()
				startErrs = append(startErrs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(startErrs...); err != nil {
		closeAll()
		shutdownEnvs()
		return err
	}

	var servers []*http.Server
	errc := make(chan error, 2*len(sup.envs))
	for _, name := range cfg.EnvNames() {
		e := sup.envs[name]
		for _, s := range []struct {
			ln net.Listener
			h  http.Handler
		}{{lns[name].proxy, e}, {lns[name].admin, e.adminHandler()}} {
			srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
			servers = append(servers, srv)
			go func() {
				if err := srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					errc <- err
				}
			}()
		}
		logger.Printf("[%s] proxy http://%s admin http://%s", name, e.cfg.Proxy, e.cfg.Admin)
	}
	logger.Printf("ready")

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	var runErr error
	select {
	case sig := <-sigc:
		logger.Printf("received %s, shutting down", sig)
	case err := <-errc:
		runErr = fmt.Errorf("server error: %w", err)
		logger.Printf("%v, shutting down", runErr)
	}
	signal.Stop(sigc)
	cancel() // aborts deploys waiting for health
	sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer scancel()
	var swg sync.WaitGroup
	for _, srv := range servers {
		swg.Go(func() {
			if err := srv.Shutdown(sctx); err != nil {
				_ = srv.Close()
			}
		})
	}
	swg.Wait()
	shutdownEnvs()
	logger.Printf("stopped")
	return runErr
}

// runDown stops the supervisor recorded in the pid file.
func runDown(cfg *Config, stdout io.Writer) error {
	pidPath := pidFilePath(cfg)
	pid, err := readPIDFile(pidPath)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stdout, "sandbox is not running (no pid file %s)\n", pidPath)
		return nil
	}
	if err != nil {
		_ = os.Remove(pidPath)
		fmt.Fprintf(stdout, "sandbox is not running (removed unreadable pid file: %v)\n", err)
		return nil
	}
	alive, sup := processState(pid)
	if !alive || !sup {
		_ = os.Remove(pidPath)
		fmt.Fprintf(stdout, "sandbox is not running (removed stale pid file %s, pid %d)\n", pidPath, pid)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	forced := false
	if !waitDead(pid, downGrace) {
		forced = true
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitDead(pid, 5*time.Second) {
			return fmt.Errorf("pid %d survived SIGKILL", pid)
		}
	}
	// Instances share the supervisor's process group (background mode) and
	// die with it (Pdeathsig); make sure nothing of the group is left.
	if pid > 1 && !waitGroupGone(pid, 3*time.Second) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		waitGroupGone(pid, 2*time.Second)
	}
	removePIDFileIfOurs(pidPath, pid)
	if forced {
		fmt.Fprintf(stdout, "sandbox stopped (pid %d, killed after %s)\n", pid, downGrace)
	} else {
		fmt.Fprintf(stdout, "sandbox stopped (pid %d)\n", pid)
	}
	return nil
}

func waitDead(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if alive, _ := processState(pid); !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGroupGone waits until no live (non-zombie) process is in group pgid.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) || !groupHasLiveMember(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusReport is the JSON output of `status -o json`.
type statusReport struct {
	Running      bool              `json:"running"`
	PID          int               `json:"pid,omitempty"`
	StateDir     string            `json:"state_dir"`
	Log          string            `json:"log"`
	Environments []envStatusReport `json:"environments"`
}

type envStatusReport struct {
	Name      string         `json:"name"`
	Proxy     string         `json:"proxy"`
	Admin     string         `json:"admin"`
	Reachable bool           `json:"reachable"`
	Version   string         `json:"version"`
	Previous  string         `json:"previous"`
	Healthy   bool           `json:"healthy"`
	Instances []instanceInfo `json:"instances"`
	Error     string         `json:"error,omitempty"`
}

// errNotRunning makes `status` exit 1 after printing its report.
var errNotRunning = errors.New("sandbox is not running or not reachable")

func runStatus(cfg *Config, output string, stdout io.Writer) error {
	rep := statusReport{StateDir: cfg.StateDir, Log: logFilePath(cfg), Environments: []envStatusReport{}}
	rep.PID = runningPID(cfg)
	rep.Running = rep.PID != 0
	client := &http.Client{Timeout: 3 * time.Second}
	allOK := rep.Running
	for _, name := range cfg.EnvNames() {
		ec := cfg.Environments[name]
		er := envStatusReport{Name: name, Proxy: ec.Proxy, Admin: ec.Admin, Instances: []instanceInfo{}}
		if rep.Running {
			var st envStatus
			if err := getJSON(client, "http://"+ec.Admin+"/status", &st); err != nil {
				er.Error = err.Error()
			} else {
				er.Reachable, er.Version, er.Previous, er.Healthy = true, st.Version, st.Previous, st.Healthy
				er.Instances = st.Instances
			}
		}
		allOK = allOK && er.Reachable
		rep.Environments = append(rep.Environments, er)
	}
	switch output {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	case "text", "":
		if rep.Running {
			fmt.Fprintf(stdout, "sandbox running (pid %d, log %s)\n", rep.PID, rep.Log)
		} else {
			fmt.Fprintf(stdout, "sandbox is not running (state_dir %s)\n", rep.StateDir)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ENVIRONMENT\tPROXY\tADMIN\tVERSION\tPREVIOUS\tINSTANCES\tHEALTHY")
		for _, er := range rep.Environments {
			version, prev, healthy := dash(er.Version), dash(er.Previous), strconv.FormatBool(er.Healthy)
			if !er.Reachable {
				version, healthy = "-", "unreachable"
			}
			var pids []string
			for _, in := range er.Instances {
				v := in.Version
				if len(in.Faults) > 0 {
					v += "[fault " + strings.Join(in.Faults, ",") + "]"
				}
				pids = append(pids, fmt.Sprintf("%s@%s(pid %d,%s)", v, in.Addr, in.PID, in.State))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", er.Name, er.Proxy, er.Admin, version, prev, dash(strings.Join(pids, " ")), healthy)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: -o %q (want text or json)", errUsage, output)
	}
	if !allOK {
		return errNotRunning
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func getJSON(client *http.Client, url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}
