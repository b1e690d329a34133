package main

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Faults make a version misbehave in one environment only: the same
// markers as the version suffixes (-unhealthy, -broken, -slow, -alerting),
// set per environment and version through the admin API (POST /fault).
// A version deployed elsewhere behaves normally, and its instances report
// the version as it is, so a protocol's version checks pass everywhere.
//
// Faults bind when instances start: a deploy or rollback of the version
// after the fault was set misbehaves; instances already running keep what
// they started with. They live in the supervisor's memory only.

// Fault markers, as POST /fault and `instance --fault` take them.
const (
	faultUnhealthy = "unhealthy"
	faultBroken    = "broken"
	faultSlow      = "slow"
	faultAlerting  = "alerting"
)

var faultMarkers = []string{faultAlerting, faultBroken, faultSlow, faultUnhealthy}

// behaviour is how an instance misbehaves: from its version's suffixes
// and the faults it was started with.
type behaviour struct {
	unhealthy, broken, slow, alerting bool
}

func behaviourOf(version string, faults []string) behaviour {
	return behaviour{
		unhealthy: isUnhealthy(version) || slices.Contains(faults, faultUnhealthy),
		broken:    isBroken(version) || slices.Contains(faults, faultBroken),
		slow:      isSlow(version) || slices.Contains(faults, faultSlow),
		alerting:  isAlerting(version) || slices.Contains(faults, faultAlerting),
	}
}

// checkFaults validates markers and returns them sorted, each once.
func checkFaults(markers []string) ([]string, error) {
	out := []string{}
	for _, m := range markers {
		if !slices.Contains(faultMarkers, m) {
			return nil, fmt.Errorf("unknown fault %q (want one of %s)", m, strings.Join(faultMarkers, ", "))
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out, nil
}

// faultsFor returns the faults set for version in this environment.
func (e *environment) faultsFor(version string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.faults[version])
}

// faultTable is a copy of the faults set, for /status; the caller holds
// e.mu.
func (e *environment) faultTable() map[string][]string {
	out := map[string][]string{}
	for v, f := range e.faults {
		out[v] = slices.Clone(f)
	}
	return out
}

// handleFault sets (replaces) the faults of one version in this
// environment: POST /fault {"version":"1.2.0","markers":["broken"]}; an
// empty list clears them.
func (e *environment) handleFault(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req struct {
		Version string   `json:"version"`
		Markers []string `json:"markers"`
	}
	bad := func(err error) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "failed", "environment": e.name, "error": err.Error()})
	}
	if err := decodeBody(body, &req); err != nil {
		bad(err)
		return
	}
	if err := checkVersion(req.Version); err != nil {
		bad(err)
		return
	}
	if req.Markers == nil {
		bad(fmt.Errorf(`"markers" is required (an empty list clears the version's faults)`))
		return
	}
	markers, err := checkFaults(req.Markers)
	if err != nil {
		bad(err)
		return
	}
	e.mu.Lock()
	if e.faults == nil {
		e.faults = map[string][]string{}
	}
	if len(markers) == 0 {
		delete(e.faults, req.Version)
	} else {
		e.faults[req.Version] = markers
	}
	table := e.faultTable()
	e.mu.Unlock()
	e.logf("fault: version %s misbehaves here as %v (from its next deploy or rollback)", req.Version, markers)
	writeJSON(w, http.StatusOK, map[string]any{"status": "set", "environment": e.name, "version": req.Version,
		"markers": markers, "faults": table})
}
