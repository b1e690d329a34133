package main

import (
	"fmt"
	"runtime/debug"
)

// Stamped by the release build (make dist):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=0123abcd…"
//
// A build without them reads the module version and the VCS commit from
// the binary's build information.
var (
	version string
	commit  string
)

// versionInfo is what protorun version prints (-o json, yaml).
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Dirty   bool   `json:"dirty,omitempty"`
	Go      string `json:"go"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		v.Go = bi.GoVersion
		if v.Version == "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.modified":
				v.Dirty = v.Dirty || (s.Value == "true" && commit == "")
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

// String is the one line protorun version prints for people.
func (v versionInfo) String() string {
	if v.Go == "" {
		return "protorun (unknown version)"
	}
	if v.Commit != "" {
		rev, dirty := v.Commit, ""
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if v.Dirty {
			dirty = "-dirty"
		}
		return fmt.Sprintf("protorun %s (commit %s%s, %s)", v.Version, rev, dirty, v.Go)
	}
	return fmt.Sprintf("protorun %s (%s)", v.Version, v.Go)
}
