package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// decider is who records a decision (approve, reject, abort) and where
// that name came from. A decision is never made under a default: the name
// is --as, or configured (PROTORUN_USER), or the CI's account
// (GITHUB_ACTOR, GITLAB_USER_LOGIN); the OS user and host are recorded
// beside it, never instead of it.
type decider struct {
	name, source string
}

// identitySources are the configured identities, in the order they are
// taken, with the source each is recorded with.
var identitySources = []struct{ env, source string }{
	{"PROTORUN_USER", "PROTORUN_USER"},
	{"GITHUB_ACTOR", "github"},
	{"GITLAB_USER_LOGIN", "gitlab"},
}

// decider finds who decides, or refuses (exit 2) saying how to say it.
func (c *common) decider(verb string) (decider, error) {
	if c.asGiven != nil && *c.asGiven && strings.TrimSpace(c.as) == "" {
		// Said, but naming nobody: neither a blank name nor the
		// configured one in its place.
		return decider{}, exitCode(exitUsage, fmt.Errorf("--as names nobody (%q): pass --as NAME, or leave it out to use PROTORUN_USER "+
			"(in CI, GITHUB_ACTOR or GITLAB_USER_LOGIN); nothing was recorded", c.as))
	}
	if c.as != "" {
		return checkedName(decider{strings.TrimSpace(c.as), "flag"}, "--as")
	}
	for _, s := range identitySources {
		if v := strings.TrimSpace(os.Getenv(s.env)); v != "" { // a blank one names nobody: unset
			return checkedName(decider{v, s.source}, s.env)
		}
	}
	return decider{}, exitCode(exitUsage, fmt.Errorf("%s needs to know who decides: pass --as NAME, or set PROTORUN_USER "+
		"(in CI, GITHUB_ACTOR or GITLAB_USER_LOGIN is taken); nothing was recorded", verb))
}

// maxName is the longest name a decision is recorded under.
const maxName = 200

// checkedName refuses (exit 2) a name that is a yes or a no (as the prompt
// does: a script's answer, not a person) or longer than maxName, naming
// where it came from.
func checkedName(d decider, from string) (decider, error) {
	switch strings.ToLower(d.name) {
	case "yes", "no", "y", "n":
		return decider{}, exitCode(exitUsage, fmt.Errorf("%s names nobody (%q is an answer, not a name); nothing was recorded", from, d.name))
	}
	if len(d.name) > maxName {
		return decider{}, exitCode(exitUsage, fmt.Errorf("%s is %d bytes long: a name is at most %d; nothing was recorded", from, len(d.name), maxName))
	}
	return d, nil
}

// stamp fills the decision's identity: the name, its source, and the OS
// user and host it was made on.
func (d decider) stamp(dec *engine.Decision) {
	dec.By, dec.BySource = d.name, d.source
	dec.OSUser = engine.CurrentUser()
	if h, err := os.Hostname(); err == nil {
		dec.Host = h
	}
}

// needReason refuses (exit 2) an approval without a reason of a halt that
// requires one (protocol.Protocol.ReasonRequired).
func needReason(ctx context.Context, st store.Store, p *protocol.Protocol, id string, approve bool, reason string) error {
	if !approve || strings.TrimSpace(reason) != "" {
		return nil
	}
	s, _, _, err := summarize(ctx, st, id)
	if err != nil || s.Halt == nil {
		return nil // Decide refuses it, with the reason
	}
	if p.ReasonRequired(s.Halt.Step) {
		return exitCode(exitUsage, fmt.Errorf("approving %s of run %s needs a reason: it guards a deploy to a protected environment; "+
			"pass --reason TEXT (a change ticket, say); nothing was recorded (the protocol can relax this with reason: optional on the halt)", s.Halt.Step, id))
	}
	return nil
}

// reasonHint is " --reason TEXT" when approving the halt run s waits at
// needs a reason, for the approve line status prints.
func reasonHint(ctx context.Context, st store.Store, s *runSummary) string {
	if s.Halt == nil {
		return ""
	}
	if _, p, err := engine.LoadRun(ctx, st, s.ID, nil); err == nil && p.ReasonRequired(s.Halt.Step) {
		return " --reason TEXT"
	}
	return ""
}

// plural is n and the noun for it: "1 file", "2 files".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
