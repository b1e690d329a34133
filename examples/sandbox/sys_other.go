//go:build unix && !linux

package main

import (
	"os"
	"syscall"
)

func selfExe() (string, error) { return os.Executable() }

// Without Pdeathsig, instances rely on their parent watch (--parent-pid).
func instanceSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func daemonSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

func processState(pid int) (alive, isSupervisor bool) {
	if pid <= 0 {
		return false, false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false, false
	}
	return true, true
}

func groupHasLiveMember(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }
