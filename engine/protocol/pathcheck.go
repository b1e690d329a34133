package protocol

import (
	"path"
	"path/filepath"
	"strings"
)

// Paths a run writes or reads (inputs, artifacts, evidence, baselines,
// reports) are journaled in clear and shown in reports and on screen: no
// secret var may be part of one. Evidence-like paths expand {run.id} only
// (the engine writes anything else literally, as a file named after the
// placeholder); inputs paths expand {vars.NAME} only.

// pathExpanded lists the placeholders the engine fills in artifacts,
// evidence, baseline and report paths.
const pathExpanded = "{run.id}"

// secretPathWhy says why a path may not hold a secret.
const secretPathWhy = "paths are journaled in clear and shown in reports; keep secrets out of them"

// inputPathSecrets refuses a secret var in an inputs path.
func (c *checker) inputPathSecrets(p []any, name, file string) {
	for _, ph := range placeholders(file) {
		if v, ok := strings.CutPrefix(ph, "vars."); ok {
			if d := c.p.Vars[v]; d != nil && d.Secret {
				c.add(p, "input %q: path uses secret var %q: %s", name, v, secretPathWhy)
			}
		}
	}
}

// writtenPathPlaceholders checks the placeholders of an artifacts,
// evidence, baseline or report path (what names it in the message): only
// {run.id} is expanded there. It reports whether s had none other.
func (c *checker) writtenPathPlaceholders(p []any, what, s string) bool {
	ok := true
	for _, ph := range placeholders(s) {
		if "{"+ph+"}" == pathExpanded {
			continue
		}
		ok = false
		if v, isVar := strings.CutPrefix(ph, "vars."); isVar {
			if d := c.p.Vars[v]; d != nil && d.Secret {
				c.add(p, "%s %q uses secret var %q: %s", what, s, v, secretPathWhy)
				continue
			}
		}
		c.add(p, "%s %q uses {%s}, which is not expanded there (it would be written literally into the file name): only %s may be used", what, s, ph, pathExpanded)
	}
	return ok
}

// artifactsProblem says what is wrong with an artifacts directory, or ""
// when it is a relative path that stays under the run's directory.
func artifactsProblem(dir string) string {
	switch {
	case filepath.IsAbs(dir) || strings.HasPrefix(dir, "/") || strings.Contains(dir, "\\"):
		return "must be a relative path (with /) under the run's directory"
	}
	clean := path.Clean(dir)
	switch {
	case clean == ".":
		return "names the run's directory itself: name a directory under it"
	case clean == ".." || strings.HasPrefix(clean, "../"):
		return "leaves the run's directory: name a directory under it"
	}
	return ""
}

// artifacts checks the artifacts directory at its own position; it
// reports whether it is usable (evidence paths are only judged against a
// usable one: against a bad one every evidence path would be refused).
func (c *checker) artifacts() bool {
	dir := c.p.Artifacts
	if !c.writtenPathPlaceholders([]any{"artifacts"}, "artifacts", dir) {
		return false
	}
	if msg := artifactsProblem(dir); msg != "" {
		c.add([]any{"artifacts"}, "artifacts %q %s (e.g. .artifacts or out/{run.id}): evidence, baselines and reports are written under it", dir, msg)
		return false
	}
	return true
}
