//go:build linux

package main

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// selfExe is the binary used to re-execute the sandbox. /proc/self/exe keeps
// working even when the file was removed (as `go run` does on exit).
func selfExe() (string, error) { return "/proc/self/exe", nil }

// instanceSysProcAttr makes the kernel SIGKILL an instance when the
// supervisor dies, however it dies. Instances stay in the supervisor's
// process group so `down` can also signal the whole group.
func instanceSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// daemonSysProcAttr detaches the background supervisor into its own session
// (and therefore its own process group, pgid == pid).
func daemonSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}

// processState reports whether pid is alive (zombies count as dead) and, when
// it can tell, whether it looks like a sandbox supervisor.
func processState(pid int) (alive, isSupervisor bool) {
	if pid <= 0 {
		return false, false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false, false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		// No /proc: trust kill(0).
		return true, true
	}
	// Format: pid (comm) S ...; comm may contain spaces/parens.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		if s := stat[i+2]; s == 'Z' || s == 'X' {
			return false, false
		}
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return true, true
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	var up, fg bool
	for _, a := range args {
		switch string(a) {
		case "up":
			up = true
		case "--foreground", "-foreground", "--foreground=true", "-foreground=true":
			fg = true
		}
	}
	return true, up && fg
}

// groupHasLiveMember reports whether a non-zombie process is in group pgid.
func groupHasLiveMember(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, ent := range entries {
		if _, err := strconv.Atoi(ent.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:]) // state ppid pgrp ...
		if len(f) < 3 || f[0][0] == 'Z' || f[0][0] == 'X' {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			return true
		}
	}
	return false
}
