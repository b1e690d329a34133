//go:build windows

package filestore

import "os"

// alive reports whether a process of this machine runs as pid: on Windows,
// whether a handle to it can be opened.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
