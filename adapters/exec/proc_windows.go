//go:build windows

package exec

import (
	osexec "os/exec"
	"syscall"
)

// ownProcessGroup starts cmd in a process group of its own.
func ownProcessGroup(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// killGroup kills cmd's process. Windows has no process-group kill in the
// standard library: a child it started itself may outlive a timeout.
func killGroup(cmd *osexec.Cmd) error { return cmd.Process.Kill() }

// killGroupOf does nothing more on Windows: killGroup killed the process.
func killGroupOf(int) {}
