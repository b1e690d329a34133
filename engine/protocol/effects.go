package protocol

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/protorun/protorun/adapters"
)

// Declared effects: a call that may change what it reaches must not reach
// a protected environment unless it is a deploy of that environment
// (deploy: true, targeting it) or that deploy's rollback. Loading checks
// every call with the vars' defaults; a runtime checks each call again,
// before making it, with the run's frozen values ([Protocol.Refusal]).
//
// A call reaches a protected environment when it targets it, or when one
// of its parameters (exec's argv included) holds a string of the
// environment's with: binding: an address (host:port, or a URL's host and
// port, the default port of http and https filled in), a URL under a
// binding's URL (http://h:1/deploy is under http://h:1; under http://h:1/prod
// are http://h:1/prod and http://h:1/prod/…), or, for a binding value that
// holds no address, that value as a whole word (bounded by anything but a
// letter, digit, '.', '-' or '_'), unless an unprotected environment's
// binding holds it too. A placeholder a var without a default leaves in a
// protected binding counts as such a word.

// maxJudged bounds the bytes of a call's parameters, placeholders filled
// in, that are judged: placeholders multiply what a file holds (a
// thousand "x{env.big}" in one with:), and a call too large to judge is
// refused rather than judged for ever.
const maxJudged = 4 << 20

// maxJudgedPass bounds what one check pass judges in all (every call's
// parameters for every item it fans out to, and the bindings): a file
// within its size limit may not buy minutes of checking with many calls
// just under maxJudged each.
const maxJudgedPass = 4 * maxJudged

// judgeBudget is what is left of the bytes one check may judge.
type judgeBudget struct{ left int }

// spend takes n bytes from the budget and says whether it held them.
func (b *judgeBudget) spend(n int) bool {
	b.left -= n
	return b.left >= 0
}

func (b *judgeBudget) spent() bool { return b.left < 0 }

// Values of a step's effect:.
const (
	effectReadOnly = "read-only"
	effectMutating = "mutating"
)

// netAddr is an address found in a string: a URL's or a host:port's.
type netAddr struct {
	host, port string // as dialed: see normHost and normPort
	path       string // a URL's path, cleaned (cleanPath)
	url        bool
	// odd is set for a URL whose host is not ASCII once the full-width
	// forms are folded: a client maps it (IDNA) before dialing, and what
	// it maps to is not judged here.
	odd bool
}

// protectedValue is one string of a protected environment's binding.
type protectedValue struct {
	env, key, value string
	addrs           []netAddr
	words           []string // values (or placeholders) matched as whole words
}

// protectedSet is what a call may not reach: the strings of every
// protected environment's binding, expanded.
type protectedSet struct {
	values    []protectedValue
	protected map[string]bool
	// tooLarge is set when the bindings passed the budget they were
	// built with: the set is then incomplete.
	tooLarge bool
}

// newProtectedSet expands every environment's binding with binding (the
// vars' defaults at load time, the run's values at run time), spending
// budget on what it reads.
func newProtectedSet(p *Protocol, binding func(env string) map[string]any, budget *judgeBudget) *protectedSet {
	ps := &protectedSet{protected: map[string]bool{}}
	var open []string // strings of the unprotected environments' bindings
	openBytes := 0
	keep := func(_ []any, s string) {
		open = append(open, s)
		openBytes += len(s) + 1
		ps.tooLarge = ps.tooLarge || !budget.spend(len(s)+1)
	}
	names := sortedKeys(p.Environments)
	for _, name := range names {
		if !p.Environments[name].Protected {
			walkStrings(binding(name), nil, keep)
			walkServices(p.Environments[name], keep)
		}
	}
	shared := func(word string) bool {
		if ps.tooLarge = ps.tooLarge || !budget.spend(openBytes); ps.tooLarge {
			return true
		}
		return slices.ContainsFunc(open, func(s string) bool { return containsWord(s, word) })
	}
	for _, name := range names {
		if !p.Environments[name].Protected {
			continue
		}
		ps.protected[name] = true
		var vals []protectedValue
		add := func(path []any, s string) {
			if ps.tooLarge = ps.tooLarge || !budget.spend(len(s)+1); ps.tooLarge || strings.TrimSpace(s) == "" {
				return
			}
			v := protectedValue{env: name, key: dotted(path), value: s, addrs: addresses(s)}
			for _, ph := range placeholderRE.FindAllString(s, -1) {
				if !shared(ph) {
					v.words = append(v.words, ph)
				}
			}
			if len(v.addrs) == 0 && len(v.words) == 0 && !shared(s) {
				v.words = append(v.words, s)
			}
			if len(v.addrs) > 0 || len(v.words) > 0 {
				vals = append(vals, v)
			}
		}
		walkStrings(binding(name), nil, add)
		walkServices(p.Environments[name], add)
		sort.Slice(vals, func(i, j int) bool { return vals[i].key < vals[j].key })
		ps.values = append(ps.values, vals...)
	}
	return ps
}

// walkServices calls fn for each string of an environment's services:
// (the other place, beside with:, where an environment holds addresses),
// at a path services.NAME.KEY. A service's name is how the protocol
// refers to it, not what a call reaches, and is left out.
func walkServices(e *Environment, fn func(path []any, s string)) {
	for i, svc := range e.Services {
		var id any = i
		if n, ok := svc["name"].(string); ok && n != "" {
			id = n
		}
		for _, k := range sortedKeys(svc) {
			if k != "name" {
				// A service's addresses (its URLs, its host:port) are the
				// environment's; its other fields (an image, a version, a
				// label) are not, and may well be another environment's too.
				walkStrings(svc[k], []any{"services", id, k}, func(path []any, v string) {
					if len(addresses(v)) > 0 {
						fn(path, v)
					}
				})
			}
		}
	}
}

// reach is one way a call reaches a protected environment.
type reach struct {
	env string
	// param is the parameter (under with:) that holds the binding's
	// value; nil when the call reaches env by targeting it.
	param []any
	// key and value name the binding's entry the parameter reaches.
	key, value string
	// odd, when set, is a URL's host the parameter holds that is not
	// judged (see netAddr.odd); env is then empty.
	odd string
}

// reaches lists how a call targeting env (empty for none) with params
// (expanded) reaches protected environments: first by its target, then by
// each parameter, in a stable order.
//
// tooLarge is set, and nothing more judged, once the strings walked pass
// maxJudged bytes, or what is left of pass.
func (ps *protectedSet) reaches(env string, params map[string]any, pass *judgeBudget) (out []reach, tooLarge bool) {
	if ps.protected[env] {
		out = append(out, reach{env: env})
	}
	if len(ps.values) == 0 {
		return out, false
	}
	left := maxJudged
	walkStrings(params, nil, func(path []any, s string) {
		if tooLarge {
			return
		}
		if left -= len(s) + 1; left < 0 || !pass.spend(len(s)+1) {
			tooLarge = true
			return
		}
		var found []netAddr
		if strings.ContainsAny(s, ":.") || !isASCII(s) {
			found = addresses(s)
		}
		// Each address found is compared with every protected value's.
		if n := len(found) * len(ps.values); n > 0 {
			if left -= n; left < 0 || !pass.spend(n) {
				tooLarge = true
				return
			}
		}
		for _, a := range found {
			if a.odd {
				out = append(out, reach{param: slices.Clone(path), odd: a.host})
				break
			}
		}
		for _, v := range ps.values {
			if v.reachedBy(s, found) {
				out = append(out, reach{env: v.env, param: slices.Clone(path), key: v.key, value: v.value})
			}
		}
	})
	sortReaches(out)
	// One error per parameter and environment (the first binding entry it
	// reaches), and none for the target where a parameter says more.
	byParam := map[string]bool{}
	kept := out[:0]
	for _, r := range out {
		k := r.env + "\x00" + dotted(r.param)
		if r.param == nil {
			k = r.env
		}
		if byParam[k] {
			continue
		}
		byParam[k] = true
		kept = append(kept, r)
	}
	out = kept
	kept = out[:0]
	for _, r := range out {
		if r.param == nil && slices.ContainsFunc(out, func(o reach) bool { return o.env == r.env && o.param != nil }) {
			continue
		}
		kept = append(kept, r)
	}
	return kept, tooLarge
}

func sortReaches(out []reach) {
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.param == nil) != (b.param == nil) {
			return a.param == nil
		}
		if pa, pb := dotted(a.param), dotted(b.param); pa != pb {
			return pa < pb
		}
		if a.env != b.env {
			return a.env < b.env
		}
		return a.key < b.key
	})
}

// reachedBy says whether a parameter string s, holding the addresses
// found, reaches the binding value v.
func (v *protectedValue) reachedBy(s string, found []netAddr) bool {
	for _, b := range v.addrs {
		for _, a := range found {
			if !sameEndpoint(a, b) {
				continue
			}
			if !b.url || b.path == "" {
				return true
			}
			if a.url && (a.path == b.path || strings.HasPrefix(a.path, b.path+"/")) {
				return true
			}
		}
	}
	for _, w := range v.words {
		if containsWord(s, w) {
			return true
		}
	}
	return false
}

func sameEndpoint(a, b netAddr) bool {
	return sameHost(a.host, b.host) && (a.port == b.port || a.port == "" || b.port == "")
}

// sameHost compares two hosts as the machine reaches them, not as
// written: every name of this machine's loopback (localhost, any
// 127.0.0.0/8 address, ::1, 0.0.0.0 and ::, which connect to it) is one
// host, and IP addresses compare by value (::ffff:127.0.0.1).
// Other names are compared case-insensitively without resolving them:
// DNS at validate time would judge another network's answer.
func sameHost(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	la, lb := loopback(a), loopback(b)
	if la || lb {
		return la && lb
	}
	ia, ea := netip.ParseAddr(a)
	ib, eb := netip.ParseAddr(b)
	return ea == nil && eb == nil && ia.Unmap() == ib.Unmap()
}

func loopback(h string) bool {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		ip = ip.Unmap()
		return ip.IsLoopback() || ip.IsUnspecified()
	}
	// Never a name lookup here: validate must not depend on (or wait for)
	// the network. Shortened IPv4 forms (127.1) are not recognized.
	return false
}

var (
	urlRE      = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)
	hostPortRE = regexp.MustCompile(`(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?\.?):([0-9]+)\b`)
)

// addresses finds the URLs and host:port pairs in s, as a client dials
// them: full-width forms folded (foldWidth), hosts in lower case without
// a trailing dot, ports as numbers, URL paths cleaned.
func addresses(s string) []netAddr {
	var out []netAddr
	s = foldWidth(s)
	rest := s
	if strings.Contains(s, "://") {
		for _, m := range urlRE.FindAllString(s, -1) {
			if a, ok := parseURLAddr(strings.TrimRight(m, ".,;:)]}")); ok {
				out = append(out, a)
			}
		}
		rest = urlRE.ReplaceAllString(s, " ")
	}
	for _, m := range hostPortRE.FindAllStringSubmatchIndex(rest, -1) {
		// A host never follows a '/' outside a URL (taken above), and a
		// port is not followed by .digit: "ghcr.io/acme/api:1.9.0" is an
		// image and its tag, not the address api:1.
		if m[0] > 0 && rest[m[0]-1] == '/' && (m[0] < 2 || rest[m[0]-2] != '/') {
			continue
		}
		if m[1]+1 < len(rest) && rest[m[1]] == '.' && rest[m[1]+1] >= '0' && rest[m[1]+1] <= '9' {
			continue
		}
		out = append(out, netAddr{host: normHost(strings.Trim(rest[m[2]:m[3]], "[]")), port: normPort(rest[m[4]:m[5]])})
	}
	return out
}

// foldWidth maps what IDNA (UTS 46), which Go's net/http and most
// clients apply to a host, maps to ASCII among the characters that look
// like an address's: the full-width forms of ASCII (１２７．０．０．１,
// ：２８７９１) and the ideographic full stops.
func foldWidth(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return strings.Map(func(r rune) rune {
				switch {
				case r >= 0xFF01 && r <= 0xFF5E:
					return r - 0xFEE0
				case r == 0x3002 || r == 0xFF61:
					return '.'
				}
				return r
			}, s)
		}
	}
	return s
}

// normHost is a host as it is dialed: in lower case, without the
// trailing dot of a fully qualified name.
func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// normPort is a port as a number (028791 is 28791).
func normPort(p string) string {
	if p == "" {
		return ""
	}
	if p = strings.TrimLeft(p, "0"); p == "" {
		return "0"
	}
	return p
}

// cleanPath is a URL's path as a server is likely to route it, erring
// towards more matches: unescaped (%70rod is prod; repeatedly, for a
// server that unescapes twice), backslashes as slashes, dot segments and
// empty segments removed (/staging/../prod, /./prod, //prod), in lower
// case, without a trailing slash ("" for the root).
func cleanPath(p string) string {
	for range 3 {
		u, err := url.PathUnescape(p)
		if err != nil || u == p {
			break
		}
		p = u
	}
	p = strings.ReplaceAll(p, "\\", "/")
	p = strings.ToLower(path.Clean("/" + p))
	return strings.TrimRight(p, "/")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func parseURLAddr(s string) (netAddr, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return netAddr{}, false
	}
	a := netAddr{host: normHost(u.Hostname()), port: normPort(u.Port()), path: cleanPath(u.EscapedPath()), url: true}
	a.odd = !isASCII(a.host)
	if a.port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http", "ws":
			a.port = "80"
		case "https", "wss":
			a.port = "443"
		}
	}
	return a, a.host != ""
}

// containsWord says whether w occurs in s bounded on each side by the
// string's end or a character that is not a letter, digit, '.', '-' or '_'.
func containsWord(s, w string) bool {
	if w == "" {
		return false
	}
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(w)
		if (start == 0 || !wordByte(s[start-1])) && (end == len(s) || !wordByte(s[end])) {
			return true
		}
		i = start + 1
	}
}

func wordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '-' || b == '_'
}

func dotted(path []any) string {
	parts := make([]string, len(path))
	for i, el := range path {
		parts[i] = fmt.Sprint(el)
	}
	return strings.Join(parts, ".")
}

// callEffect combines what the adapter says of a call with what the step
// declares: a declared mutating wins; a declared read-only only counts
// where the adapter cannot tell. conflict is set when the step declares
// read-only a call its adapter says mutates.
func callEffect(says adapters.Effect, declared string) (eff adapters.Effect, conflict bool) {
	switch {
	case declared == effectMutating:
		return adapters.Mutating, false
	case says == adapters.ReadOnly:
		return adapters.ReadOnly, false
	case says == adapters.Mutating:
		return adapters.Mutating, declared == effectReadOnly
	case declared == effectReadOnly:
		return adapters.ReadOnly, false
	}
	return adapters.MayMutate, false
}

// effectSite is one adapter call of a protocol: a step's, a deploy's
// rollback, a gate's notification.
type effectSite struct {
	id       string // the step's (or gate's) id
	kind     string // "step", "rollback", "notify"
	adapter  string
	declared string
	// deploy is the deploy step the call belongs to (the step itself, or
	// the step whose rollback it is); nil for any other call.
	deploy *PlanStep
}

// what names the call in messages: step "x", step "x": rollback, gate
// "g": notify.
func (site *effectSite) what() string {
	switch site.kind {
	case "rollback":
		return fmt.Sprintf("step %q: rollback", site.id)
	case "notify":
		return fmt.Sprintf("gate %q: notify", site.id)
	}
	return fmt.Sprintf("step %q", site.id)
}

// refusal explains why a call that reaches a protected environment may
// not be made; "" when it may.
func (site *effectSite) refusal(eff adapters.Effect, r reach) string {
	if eff == adapters.ReadOnly {
		return ""
	}
	if r.odd != "" {
		sep := " "
		if site.kind == "step" {
			sep = ": "
		}
		return fmt.Sprintf("%s%swith.%s holds a URL whose host %q is not ASCII: a client maps such a host (IDNA) before it dials it, and where that leads is not judged; a call that may change what it reaches must write its host in ASCII (an international name in its xn-- form)",
			site.what(), sep, dotted(r.param), r.odd)
	}
	if site.deploy != nil && slices.Contains(site.deploy.Targets, r.env) {
		return ""
	}
	where := fmt.Sprintf("%s targets protected environment %q", site.what(), r.env)
	if r.param != nil {
		sep := " "
		if site.kind == "step" {
			sep = ": "
		}
		where = fmt.Sprintf("%s%swith.%s reaches protected environment %q (its %s, %s)", site.what(), sep, dotted(r.param), r.env, r.key, r.value)
	}
	var call string
	switch {
	case eff == adapters.Mutating && site.declared == effectMutating:
		call = fmt.Sprintf("a call declared mutating (adapter %s)", site.adapter)
	case eff == adapters.Mutating:
		call = fmt.Sprintf("a mutating call (adapter %s)", site.adapter)
	default:
		call = fmt.Sprintf("a call that may mutate (adapter %s)", site.adapter)
	}
	readOnly := ""
	if eff == adapters.MayMutate {
		readOnly = ", or declare effect: read-only with an effect_reason if it only reads"
	}
	switch {
	case site.deploy != nil:
		return fmt.Sprintf("%s, which the deploy does not target: add %q to its targets, so the approval, gates and rollback a protected deploy needs are checked",
			where, r.env)
	case site.kind == "notify":
		if readOnly != "" {
			readOnly = ", or declare effect: read-only with an effect_reason if the receiver only shows it"
		}
		return fmt.Sprintf("%s with %s; a notification may not change it: point it elsewhere%s", where, call, readOnly)
	case site.kind == "rollback":
		return fmt.Sprintf("%s with %s; only the rollback of a deploy of it may change it", where, call)
	}
	return fmt.Sprintf("%s with %s, and the step is not a deploy: mark it deploy: true with a rollback behind an approval%s",
		where, call, readOnly)
}

// checkDeclaration checks a step's or action's effect: and effect_reason:
// (at path).
func (c *checker) checkDeclaration(path []any, what, effect, reason string) {
	switch {
	case effect == effectReadOnly && strings.TrimSpace(reason) == "":
		c.addKey(sub(path, "effect"), "%s: effect: read-only needs an effect_reason: say why the call only reads (the written acceptance of responsibility for it)", what)
	case effect != effectReadOnly && reason != "":
		c.addKey(sub(path, "effect_reason"), "%s: effect_reason only goes with effect: read-only", what)
	}
}

// effects refuses every call that may change a protected environment and
// is not a deploy of it or that deploy's rollback, judged with the vars'
// defaults.
func (c *checker) effects() {
	ec := &effectCheck{ps: &protectedSet{}, pass: &judgeBudget{left: maxJudgedPass}}
	if slices.ContainsFunc(sortedKeys(c.p.Environments), func(n string) bool { return c.p.Environments[n].Protected }) {
		ec.bindings = c.defaultBindings(ec.pass)
		ec.ps = newProtectedSet(c.p, func(env string) map[string]any { return ec.bindings[env] }, ec.pass)
		if ec.ps.tooLarge {
			ec.stopped = true
			c.add([]any{"environments"}, "environments: the bindings and services are too large to judge (over %d bytes with their placeholders filled in, all told): protorun cannot tell what reaches a protected environment", maxJudgedPass)
		}
	}
	for _, s := range c.plan.Steps {
		switch {
		case s.Gate != nil && s.Gate.Notify != nil && s.notifyPath != nil:
			a := s.Gate.Notify
			c.effectCall(ec, effectSite{id: s.ID, kind: "notify", adapter: a.Adapter, declared: a.Effect}, s.notifyPath, a.With, nil, "", a.EffectReason)
		case s.Kind() == "action":
			site := effectSite{id: s.ID, kind: "step", adapter: s.Adapter, declared: s.Effect}
			if s.Deploy {
				site.deploy = s
			}
			c.effectCall(ec, site, s.path, s.With, s.Targets, s.Foreach, s.EffectReason)
			if a := s.Rollback; a != nil && s.rollbackPath != nil {
				site.kind, site.adapter, site.declared = "rollback", a.Adapter, a.Effect
				c.effectCall(ec, site, s.rollbackPath, a.With, s.Targets, s.Foreach, a.EffectReason)
			}
		}
	}
}

// effectCheck is what checking the calls' effects needs: the
// environments' bindings expanded with the vars' defaults, and what of
// them is protected.
type effectCheck struct {
	bindings map[string]map[string]any
	ps       *protectedSet
	// pass is what is left of what the whole check may judge; stopped is
	// set once it ran out (and was reported).
	pass    *judgeBudget
	stopped bool
}

// effectCall checks one call's declaration and, when there is anything
// to protect, what it reaches.
func (c *checker) effectCall(ec *effectCheck, site effectSite, path []any, with map[string]any, targets []string, foreach, reason string) {
	if site.declared != "" || reason != "" {
		c.checkDeclaration(path, site.what(), site.declared, reason)
	}
	if len(ec.ps.protected) > 0 && !ec.stopped {
		c.effectSite(ec, &site, path, with, targets, foreach)
	}
}

// effectSite checks one call at path for each target (and service) it is
// made for.
func (c *checker) effectSite(ec *effectCheck, site *effectSite, path []any, with map[string]any, targets []string, foreach string) {
	a, err := c.set.Open(site.adapter)
	if err != nil {
		return // reported with the step
	}
	if site.declared != effectMutating && adapters.EffectOf(a, withOrEmpty(with)) == adapters.ReadOnly {
		// Read-only as written: filling placeholders in cannot make it
		// mutate (an adapter that cannot tell before they are filled in
		// says MayMutate). The run asks again with its values.
		return
	}
	type item struct {
		env string
		svc map[string]any
	}
	items := []item{{}}
	if len(targets) > 0 {
		items = items[:0]
		for _, t := range targets {
			e := c.p.Environments[t]
			if e == nil {
				continue // reported with the step
			}
			if foreach == "service" && len(e.Services) > 0 {
				for _, svc := range e.Services {
					items = append(items, item{env: t, svc: svc})
				}
				continue
			}
			items = append(items, item{env: t})
		}
	}
	conflict := false
	for _, it := range items {
		scope := &budgetScope{inner: c.defaultScope(ec.bindings[it.env], it.env, it.svc), left: maxJudged, pass: ec.pass, sizes: map[string]int{}}
		params, _ := ExpandValue(withOrEmpty(with), scope.lookup).(map[string]any)
		if ec.pass.spent() {
			c.passSpent(ec, site, path)
			return
		}
		if scope.over {
			c.add(sub(path, "with"), "%s: with: is too large to judge once its placeholders are filled in (over %d bytes): protorun cannot tell whether it reaches a protected environment", site.what(), maxJudged)
			return
		}
		eff, bad := callEffect(adapters.EffectOf(a, params), site.declared)
		if bad && !conflict {
			conflict = true
			c.addKey(sub(path, "effect"), "%s: effect: read-only cannot apply: adapter %s says this call mutates, and a declaration only counts where the adapter cannot tell", site.what(), site.adapter)
		}
		if eff == adapters.ReadOnly {
			continue
		}
		reaches, tooLarge := ec.ps.reaches(it.env, params, ec.pass)
		if ec.pass.spent() {
			c.passSpent(ec, site, path)
			return
		}
		if tooLarge {
			c.add(sub(path, "with"), "%s: with: is too large to judge once its placeholders are filled in (over %d bytes): protorun cannot tell whether it reaches a protected environment", site.what(), maxJudged)
			return
		}
		for _, r := range reaches {
			msg := site.refusal(eff, r)
			if msg == "" {
				continue
			}
			at := sub(path, "with")
			if r.param == nil {
				at = sub(path, "targets", slices.Index(targets, r.env))
			} else {
				at = append(at, r.param...)
			}
			c.add(at, "%s", msg)
		}
	}
}

// passSpent reports, at the call at path, that the check ran out of what
// it may judge in all, and stops it: no later call is judged.
func (c *checker) passSpent(ec *effectCheck, site *effectSite, path []any) {
	ec.stopped = true
	c.add(sub(path, "with"), "%s: the effects check stops here: the calls' parameters judged so far, their placeholders filled in for every item, pass %d bytes all told, so protorun cannot tell whether this call and the ones after it reach a protected environment; make the parameters, or the values their placeholders take, smaller", site.what(), maxJudgedPass)
}

// budgetScope fills placeholders from inner until the values it handed
// out pass left bytes, or what is left of pass (when set); from then on
// every placeholder is empty and over is set.
type budgetScope struct {
	inner Scope
	left  int
	pass  *judgeBudget
	over  bool
	sizes map[string]int
}

func (b *budgetScope) lookup(name string) (any, bool) {
	if b.over {
		return "", true
	}
	v, ok := b.inner(name)
	if !ok {
		return v, ok
	}
	n, seen := b.sizes[name]
	if !seen {
		n = textSize(v)
		b.sizes[name] = n
	}
	if b.left -= n; b.left < 0 || (b.pass != nil && !b.pass.spend(n)) {
		b.over = true
		return "", true
	}
	return v, true
}

// textSize is about how many bytes v takes as text.
func textSize(v any) int {
	switch t := v.(type) {
	case string:
		return len(t)
	case map[string]any:
		n := 2
		for k, e := range t {
			n += len(k) + 2 + textSize(e)
		}
		return n
	case []any:
		n := 2
		for _, e := range t {
			n += 1 + textSize(e)
		}
		return n
	}
	return len(fmt.Sprint(v))
}

// defaultVar is a var's value at load time: its default, when it has one.
func (c *checker) defaultVar(name string) (any, bool) {
	key, ok := strings.CutPrefix(name, "vars.")
	if !ok {
		return nil, false
	}
	v := c.p.Vars[key]
	if v == nil || v.Default == nil {
		return nil, false
	}
	return v.Default, true
}

// defaultBindings expands every environment's binding with the vars'
// defaults, once. A binding that grows past maxJudged bytes is reported
// at its with: and left unexpanded.
func (c *checker) defaultBindings(pass *judgeBudget) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, name := range sortedKeys(c.p.Environments) {
		e := c.p.Environments[name]
		scope := &budgetScope{inner: c.defaultVar, left: maxJudged, pass: pass, sizes: map[string]int{}}
		b, _ := ExpandValue(e.With, scope.lookup).(map[string]any)
		if scope.over {
			c.add([]any{"environments", name, "with"}, "environment %q: with: is too large to judge once its placeholders are filled in (over %d bytes): protorun cannot tell what reaches it", name, maxJudged)
			b = e.With
		}
		out[name] = b
	}
	return out
}

// defaultScope resolves a with: block's placeholders as the runner would
// for a call targeting env (binding, its binding expanded; svc, the
// service), with the vars' defaults.
func (c *checker) defaultScope(binding map[string]any, env string, svc map[string]any) Scope {
	return func(name string) (any, bool) {
		root, key, _ := strings.Cut(name, ".")
		switch root {
		case "vars":
			return c.defaultVar(name)
		case "env":
			if key == "name" {
				return env, env != ""
			}
			v, ok := binding[key]
			return v, ok
		case "service":
			v, ok := svc[key]
			return v, ok
		case "item":
			if svc != nil {
				return fmt.Sprint(svc["name"]), true
			}
			return env, env != ""
		}
		return nil, false
	}
}

// Refusal is the check a runtime makes before it calls an adapter for step
// s on environment env with params (expanded with the run's own values):
// why the call may not be made, or "" when it may. says is what the
// adapter says the call does (asked only when the protocol protects an
// environment); binding returns an environment's with: binding as the run
// resolves it.
func (p *Protocol) Refusal(s *PlanStep, says func() adapters.Effect, env string, params map[string]any, binding func(env string) map[string]any) string {
	hasProtected := false
	for _, e := range p.Environments {
		hasProtected = hasProtected || e.Protected
	}
	if !hasProtected {
		return ""
	}
	eff, _ := callEffect(says(), s.Effect)
	if eff == adapters.ReadOnly {
		return ""
	}
	site := &effectSite{id: s.ID, kind: "step", adapter: s.Adapter, declared: s.Effect}
	switch o := s.ActionOf; {
	case o != nil && o.Gate != nil:
		site.kind, site.id = "notify", o.ID
	case o != nil:
		site.kind, site.id = "rollback", o.ID
		if o.Deploy {
			site.deploy = o
		}
	case s.Deploy:
		site.deploy = s
	}
	// One call's check is bounded as a load's pass is: its parameters
	// at most maxJudged bytes, the protected bindings and the parameters
	// maxJudgedPass together. So a call validate judged (its parameters
	// under maxJudged, within the pass) is judged here too, not refused
	// as too large with the same values.
	budget := &judgeBudget{left: maxJudgedPass}
	ps := newProtectedSet(p, binding, budget)
	if ps.tooLarge {
		return fmt.Sprintf("%s: the environments' bindings are too large to judge (over %d bytes): it cannot be told whether the call reaches a protected environment", site.what(), maxJudgedPass)
	}
	reaches, tooLarge := ps.reaches(env, params, budget)
	for _, rc := range reaches {
		if msg := site.refusal(eff, rc); msg != "" {
			return msg
		}
	}
	if tooLarge {
		return fmt.Sprintf("%s: its parameters are too large to judge (over %d bytes): it cannot be told whether the call reaches a protected environment", site.what(), maxJudged)
	}
	return ""
}
