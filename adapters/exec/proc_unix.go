//go:build unix

package exec

import (
	"errors"
	"os"
	osexec "os/exec"
	"syscall"
)

// ownProcessGroup starts cmd in a process group of its own, so a timeout
// kills everything it forked.
func ownProcessGroup(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the process group of cmd's process.
func killGroup(cmd *osexec.Cmd) error {
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// killGroupOf kills the process group led by pid, whatever is left of it.
func killGroupOf(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
