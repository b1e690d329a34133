package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"syscall"

	"github.com/protorun/protorun/engine/protocol"
)

// writeHolder records who holds a lease, replacing the record atomically
// (by a rename). Only the lease's holder writes it, so a temporary name by
// pid is its own. It is not fsynced: a driver's record only names the
// driver (its flock is the lease), and after a power loss a missing record
// reads as a driver that left none.
func writeHolder(path string, h Holder) error {
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

// readHolder reads a lease's holder record; ok is false when there is none
// (yet) or it does not decode.
func readHolder(path string) (h Holder, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &h) != nil {
		return Holder{}, false
	}
	return h, true
}

// alive reports whether a process of this machine runs as pid.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// deployEnvs lists the environments the protocol's deploy steps change.
func deployEnvs(p *protocol.Protocol) []string {
	seen := map[string]bool{}
	for _, s := range p.Plan().Steps {
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
