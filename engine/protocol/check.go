package protocol

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"github.com/xeipuuv/gojsonschema"
	"gopkg.in/yaml.v3"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/internal/suggest"
)

// messagePlaceholders are the names the engine fills in announcements, on
// top of vars.NAME.
var messagePlaceholders = map[string]bool{
	"environment": true, "service": true, "item": true, "error": true, "details": true,
	"step": true, "step.id": true, "step.title": true,
	"phase": true, "phase.id": true, "phase.number": true, "phase.title": true,
	"gate": true, "gate.title": true, "run.id": true,
	"protocol": true, "protocol.id": true, "protocol.title": true, "next": true,
	"approver": true, "reason": true,
}

// checker runs the semantic checks of a decoded protocol.
type checker struct {
	p    *Protocol
	set  adapters.Set
	errs *ErrorList
	plan *Plan
	// dupSteps is set when two steps share an id: the flow is ambiguous,
	// so reachability is not judged (it would blame steps that are fine).
	dupSteps bool
	// badArtifacts is set when the artifacts directory is refused: evidence
	// paths are then not judged against it.
	badArtifacts bool
}

func (c *checker) at(path []any, key bool) Pos { return c.p.pos(path, key) }

func (c *checker) add(path []any, format string, args ...any) {
	c.errs.Add(c.at(path, false), format, args...)
}

func (c *checker) addKey(path []any, format string, args ...any) {
	c.errs.Add(c.at(path, true), format, args...)
}

func sub(path []any, els ...any) []any {
	return append(append(make([]any, 0, len(path)+len(els)), path...), els...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// check runs every semantic check and stores the plan on success.
func check(p *Protocol, set adapters.Set, errs *ErrorList) {
	c := &checker{p: p, set: set, errs: errs}
	c.plan = buildPlan(p)
	p.plan = c.plan
	if p.Artifacts == "" {
		p.Artifacts = ".artifacts"
	}
	c.ids()
	c.badArtifacts = !c.artifacts()
	for _, name := range sortedKeys(p.Inputs) {
		c.varPlaceholders([]any{"inputs", name, "path"}, p.Inputs[name].Path)
		c.inputPathSecrets([]any{"inputs", name, "path"}, name, p.Inputs[name].Path)
	}
	c.messages()
	c.environments()
	evidence := map[string][]any{}
	for _, s := range c.plan.Steps {
		c.step(s, evidence)
	}
	c.reportPaths(evidence)
	c.plan.Handoff = make([]*Program, len(p.Handoff))
	for i, h := range p.Handoff {
		c.plan.Handoff[i] = c.expr(sub([]any{"handoff", i}, "expr"), h.Expr, nil, false, "handoff item")
	}
	c.reachability()
	c.safety()
	c.effects()
}

func (c *checker) ids() {
	phases := map[string]bool{}
	for i, ph := range c.p.Phases {
		if phases[ph.ID] {
			c.add([]any{"phases", i, "id"}, "duplicate phase id %q", ph.ID)
		}
		phases[ph.ID] = true
	}
	seen := map[string]bool{}
	for _, s := range c.plan.Steps {
		if seen[s.ID] {
			c.add(sub(s.path, "id"), "duplicate step id %q", s.ID)
			c.dupSteps = true
		}
		seen[s.ID] = true
	}
}

// messageRef checks that id names a message.
func (c *checker) messageRef(path []any, id, what string) {
	if id == "" {
		return
	}
	if _, ok := c.p.Messages[id]; !ok {
		c.add(path, "%s refers to unknown message %q%s", what, id, suggest.DidYouMean(id, sortedKeys(c.p.Messages)))
	}
}

// text checks the placeholders of an announcement text.
func (c *checker) text(path []any, s, what string) {
	for _, ph := range placeholders(s) {
		if messagePlaceholders[ph] {
			continue
		}
		if name, ok := strings.CutPrefix(ph, "vars."); ok {
			if _, ok := c.p.Vars[name]; ok {
				if c.p.Vars[name].Secret {
					c.add(path, "%s shows secret var %q: secrets are never announced", what, name)
				}
				continue
			}
			c.add(path, "%s uses unknown placeholder {%s}%s", what, ph, suggest.DidYouMean(name, sortedKeys(c.p.Vars)))
			continue
		}
		known := make([]string, 0, len(messagePlaceholders))
		for k := range messagePlaceholders {
			known = append(known, k)
		}
		sort.Strings(known)
		c.add(path, "%s uses unknown placeholder {%s}%s", what, ph, suggest.DidYouMean(ph, known))
	}
}

func (c *checker) messages() {
	for _, id := range sortedKeys(c.p.Messages) {
		c.text([]any{"messages", id}, c.p.Messages[id].Text, fmt.Sprintf("message %q", id))
	}
	a := c.p.Announce
	for _, r := range []struct{ key, id string }{
		{"start", a.Start}, {"phase_begin", a.PhaseBegin}, {"phase_complete", a.PhaseComplete},
		{"complete", a.Complete}, {"failed", a.Failed}, {"rollback_decision", a.RollbackDecision},
	} {
		c.messageRef([]any{"announce", r.key}, r.id, "announce."+r.key)
	}
	for _, name := range sortedKeys(c.p.Vars) {
		v := c.p.Vars[name]
		if v.Secret && v.Default != nil && v.Default != "" {
			c.errs.Add(c.at([]any{"vars", name, "default"}, false), "secret var %q has a default in the file: take it from env", name)
			(*c.errs)[len(*c.errs)-1].Err = ErrSecretDefault
		}
	}
}

func (c *checker) environments() {
	for _, name := range sortedKeys(c.p.Environments) {
		e := c.p.Environments[name]
		seen := map[string]bool{}
		for i, s := range e.Services {
			n := fmt.Sprint(s["name"])
			if seen[n] {
				c.add([]any{"environments", name, "services", i, "name"}, "duplicate service %q in environment %q", n, name)
			}
			seen[n] = true
		}
		walkStrings(e.With, []any{"environments", name, "with"}, func(p []any, s string) {
			c.varPlaceholders(p, s)
		})
	}
}

// varPlaceholders checks that every placeholder of s is a declared var.
func (c *checker) varPlaceholders(path []any, s string) {
	for _, ph := range placeholders(s) {
		name, ok := strings.CutPrefix(ph, "vars.")
		if ok {
			if _, ok := c.p.Vars[name]; ok {
				continue
			}
			c.add(path, "unknown placeholder {%s}%s", ph, suggest.DidYouMean(name, sortedKeys(c.p.Vars)))
			continue
		}
		c.add(path, "unknown placeholder {%s}: only {vars.NAME} may be used here", ph)
	}
}

// paramPlaceholders checks the placeholders of a with: block.
func (c *checker) paramPlaceholders(base []any, with map[string]any, targets []string, foreach string) {
	walkStrings(with, base, func(p []any, s string) {
		for _, ph := range placeholders(s) {
			root, key, _ := strings.Cut(ph, ".")
			switch root {
			case "vars":
				if _, ok := c.p.Vars[key]; !ok {
					c.add(p, "unknown placeholder {%s}%s", ph, suggest.DidYouMean(key, sortedKeys(c.p.Vars)))
				}
			case "env":
				if len(targets) == 0 {
					c.add(p, "placeholder {%s} needs targets: on the step", ph)
					continue
				}
				if key == "name" {
					continue
				}
				for _, t := range targets {
					if e, ok := c.p.Environments[t]; ok {
						if _, ok := e.With[key]; !ok {
							c.add(p, "placeholder {%s}: environment %q has no %q in its with:%s", ph, t, key, suggest.DidYouMean(key, sortedKeys(e.With)))
						}
					}
				}
			case "service":
				if foreach != "service" {
					c.add(p, "placeholder {%s} needs foreach: service", ph)
					continue
				}
				for _, t := range targets {
					if e, ok := c.p.Environments[t]; ok {
						for i, svc := range e.Services {
							if _, ok := svc[key]; !ok {
								c.add(p, "placeholder {%s}: service %d of environment %q has no %q", ph, i, t, key)
							}
						}
					}
				}
			case "item", "run", "step", "protocol":
				if (root == "run" && key != "id") || (root == "step" && key != "id") || (root == "protocol" && key != "id") {
					c.add(p, "unknown placeholder {%s}", ph)
				}
			default:
				c.add(p, "unknown placeholder {%s} (use vars., env., service., item, run.id, step.id, protocol.id)", ph)
			}
		}
	})
}

// expr compiles an expression and checks the names it reads. before, when
// not nil, is the step the expression belongs to: steps and gates it reads
// must come earlier.
func (c *checker) expr(path []any, src string, before *PlanStep, withResult bool, what string) *Program {
	prog, err := compileExpr(src, withResult)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		c.add(path, "%s: %s", what, msg)
		return nil
	}
	for _, id := range prog.Refs["steps"] {
		s := c.plan.byID[id]
		switch {
		case s == nil:
			c.add(path, "%s refers to unknown step %q%s", what, id, suggest.DidYouMean(id, sortedKeys(c.plan.byID)))
		case s.Kind() != StepAction:
			c.add(path, "%s refers to %s %q as a step; use gates.%s", what, s.Kind(), id, id)
		case before != nil && s.Index >= before.Index:
			c.add(path, "%s refers to step %q, which runs later", what, id)
		}
	}
	for _, id := range prog.Refs["gates"] {
		s := c.plan.byID[id]
		switch {
		case s == nil || s.Gate == nil:
			var gates []string
			for _, st := range c.plan.Steps {
				if st.Gate != nil {
					gates = append(gates, st.ID)
				}
			}
			c.add(path, "%s refers to unknown gate %q%s", what, id, suggest.DidYouMean(id, gates))
		case before != nil && s.Index >= before.Index:
			c.add(path, "%s refers to gate %q, which runs later", what, id)
		}
	}
	for _, id := range prog.Refs["inputs"] {
		if _, ok := c.p.Inputs[id]; !ok {
			c.add(path, "%s refers to unknown input %q%s", what, id, suggest.DidYouMean(id, sortedKeys(c.p.Inputs)))
		}
	}
	for _, id := range prog.Refs["vars"] {
		if _, ok := c.p.Vars[id]; !ok {
			c.add(path, "%s refers to unknown var %q%s", what, id, suggest.DidYouMean(id, sortedKeys(c.p.Vars)))
		}
	}
	for _, id := range prog.Refs["baseline"] {
		if s := c.plan.byID[id]; s == nil || s.Baseline == "" {
			c.add(path, "%s refers to baseline %q, but no step with that id keeps a baseline", what, id)
		}
	}
	return prog
}

// evidencePath checks that an evidence path stays under the artifacts
// directory and is written by one place only.
func (c *checker) evidencePath(p []any, file string, seen map[string][]any) {
	if file == "" || !c.writtenPathPlaceholders(p, "evidence path", file) {
		return
	}
	if filepath.IsAbs(file) || strings.Contains(file, "\\") {
		c.add(p, "evidence path %q must be relative, under %s", file, c.p.Artifacts)
		return
	}
	clean := path.Clean(file)
	root := path.Clean(c.p.Artifacts)
	if clean != file && clean+"/" != file {
		c.add(p, "evidence path %q is not clean (write %q)", file, clean)
		return
	}
	if !c.badArtifacts && (!strings.HasPrefix(clean, root+"/") || strings.HasPrefix(clean, "../")) {
		c.add(p, "evidence path %q is outside the artifacts directory %q", file, root)
		return
	}
	if prev, dup := seen[clean]; dup {
		c.add(p, "evidence path %q is also written at %s", file, c.at(prev, false))
		return
	}
	seen[clean] = p
}

func (c *checker) reportPaths(seen map[string][]any) {
	for _, r := range []struct{ key, file string }{{"json", c.p.Report.JSON}, {"markdown", c.p.Report.Markdown}} {
		if r.file != "" {
			c.evidencePath([]any{"report", r.key}, r.file, seen)
		}
	}
}

func (c *checker) adapterParams(base []any, name string, with map[string]any) {
	a, err := c.set.Open(name)
	if err != nil {
		c.add(sub(base, "adapter"), "%s", UnknownAdapter(name, c.set))
		return
	}
	var reported map[string]bool
	if ps, ok := a.(adapters.ParamSchemer); ok {
		reported = c.paramSchema(sub(base, "with"), name, ps.ParamSchema(), with)
	}
	if pv, ok := a.(adapters.ParamValidator); ok {
		for _, pe := range pv.ValidateParams(withOrEmpty(with)) {
			p := sub(base, "with")
			for _, el := range pe.Path {
				p = append(p, el)
			}
			if reported[fmt.Sprint(p)] {
				continue // the schema said it already (an unknown key, a wrong type)
			}
			c.add(p, "%s: %s", name, pe.Error())
		}
	}
}

// withValue converts the with: mapping at path from the file's node tree
// to JSON-like values (numbers as json.Number), as gojsonschema wants them,
// and returns it with its node; nil for a protocol built in Go or when
// there is no such mapping.
func (c *checker) withValue(path []any) (*yaml.Node, any) {
	n := c.p.root
	for _, el := range path {
		if n = stepInto(n, el, false); n == nil {
			return nil, nil
		}
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	cv := converter{file: c.p.File, budget: 4*countNodes(n) + 10000}
	var errs ErrorList
	if v := cv.value(n, &errs); len(errs) == 0 {
		return n, v
	}
	return nil, nil
}

// paramSchema checks with: against the adapter's parameter schema; it
// returns the paths it reported an error at (as fmt.Sprint of the path).
// Past maxErrors problems it checks no more: the protocol is refused.
func (c *checker) paramSchema(base []any, name string, raw []byte, with map[string]any) map[string]bool {
	if len(*c.errs) > maxErrors {
		return nil
	}
	s, err := compiledParamSchema(name, raw)
	if err != nil {
		c.add(base, "adapter %q has a bad parameter schema: %v", name, err)
		return nil
	}
	var reported map[string]bool
	report := func(e gojsonschema.ResultError, path []any) {
		if reported == nil {
			reported = map[string]bool{}
		}
		full := sub(base, path...)
		d := e.Details()
		switch e.Type() {
		case "additional_property_not_allowed":
			prop := fmt.Sprint(d["property"])
			if len(path) == 0 {
				c.addKey(sub(full, prop), "%s: unknown parameter %q%s", name, prop, suggest.DidYouMean(prop, paramSchemaNames(name, raw)))
			} else {
				// Named with its path; suggestions only among its siblings.
				c.addKey(sub(full, prop), "%s: unknown parameter %q in %s%s", name, prop, describePath(path), suggest.DidYouMean(prop, siblingNames(paramSchemaTree(name, raw), path)))
			}
			reported[fmt.Sprint(sub(full, prop))] = true
		case "required":
			if len(path) == 0 {
				c.add(full, "%s: missing required parameter %q", name, d["property"])
			} else {
				c.add(full, "%s: %s is missing required parameter %q", name, describePath(path), d["property"])
			}
		default:
			if isPlaceholderValue(e.Value()) || reported[fmt.Sprint(full)] {
				return // one error per parameter
			}
			c.add(full, "%s: %s", name, paramWords(paramSchemaTree(name, raw), path, e))
			reported[fmt.Sprint(full)] = true
		}
	}
	// The document's JSON-like values (numbers as json.Number) are what
	// gojsonschema expects; a large with: is checked in pieces.
	if n, v := c.withValue(base); v != nil {
		doc, err := paramSchemaDoc(name, raw)
		if err == nil {
			err = splitValidate(doc, n, v, countNodes(n), func() bool { return len(*c.errs) > maxErrors }, report)
		}
		if err != nil {
			c.add(base, "with: %v", err)
		}
		return reported
	}
	// A protocol built in Go: a JSON round trip of the decoded map.
	var doc gojsonschema.JSONLoader
	if with == nil {
		doc = gojsonschema.NewRawLoader(map[string]any{})
	} else {
		b, err := json.Marshal(with)
		if err != nil {
			c.add(base, "with: %v", err)
			return nil
		}
		doc = gojsonschema.NewBytesLoader(b)
	}
	res, err := s.Validate(doc)
	if err != nil {
		c.add(base, "with: %v", err)
		return nil
	}
	for _, e := range res.Errors() {
		report(e, contextPathFrom(e.Context(), nil, nil))
	}
	return reported
}

// paramNames are the top-level property names of an adapter's parameter
// schema, for suggestions.
func paramNames(raw []byte) []string {
	var s struct{ Properties map[string]json.RawMessage }
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return sortedKeys(s.Properties)
}

func isPlaceholderValue(v any) bool {
	s, ok := v.(string)
	return ok && len(placeholders(s)) > 0
}

func (c *checker) step(s *PlanStep, evidence map[string][]any) {
	base := s.path
	kinds := 0
	for _, k := range []bool{s.Adapter != "", s.Halt != nil, s.Gate != nil} {
		if k {
			kinds++
		}
	}
	if kinds != 1 {
		c.add(base, "step %q must have exactly one of adapter, halt or gate", s.ID)
		return
	}
	for _, t := range []struct {
		path []any
		text string
	}{
		{sub(base, "say"), s.Say},
		{sub(base, "say_each"), s.SayEach},
		{sub(base, "status", "passed"), statusText(s.Status, true)},
		{sub(base, "status", "failed"), statusText(s.Status, false)},
	} {
		c.text(t.path, t.text, fmt.Sprintf("step %q", s.ID))
	}
	c.messageRef(sub(base, "error"), s.Error, fmt.Sprintf("step %q", s.ID))
	if s.Next != "" {
		t := c.plan.byID[s.Next]
		switch {
		case t == nil:
			c.add(sub(base, "next"), "step %q: next refers to unknown step %q%s", s.ID, s.Next, suggest.DidYouMean(s.Next, sortedKeys(c.plan.byID)))
		case t.Index <= s.Index:
			c.add(sub(base, "next"), "step %q: next must jump forward; %q comes before it", s.ID, s.Next)
		}
	}
	if s.When != "" {
		s.WhenProgram = c.expr(sub(base, "when"), s.When, s, false, fmt.Sprintf("step %q: when", s.ID))
	}
	if s.Kind() != StepAction {
		for _, f := range []struct {
			key string
			set bool
		}{{"targets", len(s.Targets) > 0}, {"foreach", s.Foreach != ""}, {"with", s.With != nil},
			{"retries", s.Retries != nil}, {"until", s.Until != nil}, {"deploy", s.Deploy},
			{"rollback", s.Rollback != nil}, {"baseline", s.Baseline != ""}, {"evidence", s.Evidence != ""},
			{"timeout", s.Timeout != 0}, {"concurrency", s.Concurrency != 0},
			{"effect", s.Effect != ""}, {"effect_reason", s.EffectReason != ""}} {
			if f.set {
				c.addKey(sub(base, f.key), "%s %q cannot have %s (only steps with an adapter can)", s.Kind(), s.ID, f.key)
			}
		}
	}
	switch {
	case s.Halt != nil:
		c.messageRef(sub(base, "halt", "prompt"), s.Halt.Prompt, fmt.Sprintf("halt %q", s.ID))
		if s.Halt.Kind == HaltApproval && s.When != "" {
			c.add(sub(base, "when"), "approval halt %q cannot have when: an approval is never skipped", s.ID)
		}
		if s.Level == Guideline {
			c.add(sub(base, "level"), "halt %q cannot be a guideline", s.ID)
		}
		if s.Halt.Approvers != nil && len(s.Halt.Approvers) == 0 {
			c.add(sub(base, "halt", "approvers"), "halt %q: approvers: [] names nobody: leave approvers out to let anyone allowed decide, or name them", s.ID)
		}
		for i, a := range s.Halt.Approvers {
			if name, ok := strings.CutPrefix(a, RoleApprover); ok && (name == "" || strings.ContainsFunc(name, unicode.IsSpace)) {
				c.add(sub(base, "halt", "approvers", i), "halt %q: approver %q names no role (write role:NAME, e.g. role:release-managers)", s.ID, a)
			}
		}
	case s.Gate != nil:
		g := s.Gate
		s.Criteria = make([]*Program, len(g.Criteria))
		for i, cr := range g.Criteria {
			s.Criteria[i] = c.expr(sub(base, "gate", "criteria", i, "expr"), cr.Expr, s, false, fmt.Sprintf("gate %q", s.ID))
		}
		c.messageRef(sub(base, "gate", "message"), g.Message, fmt.Sprintf("gate %q", s.ID))
		if g.Confirm && c.p.Announce.RollbackDecision == "" {
			c.add(sub(base, "gate", "confirm"), "gate %q asks to confirm a rollback, but announce.rollback_decision names no message", s.ID)
		}
		if g.Confirm && g.OnFail != PolicyRollback {
			c.add(sub(base, "gate", "confirm"), "gate %q: confirm only applies to on_fail: rollback", s.ID)
		}
		if g.Notify != nil {
			s.notifyPath = sub(base, "gate", "notify")
			s.NotifyWhen = c.action(s.notifyPath, g.Notify, s, nil, "", evidence)
		}
		c.evidencePath(sub(base, "gate", "evidence"), g.Evidence, evidence)
		if s.Level == Guideline {
			c.add(sub(base, "level"), "gate %q cannot be a guideline; use on_fail: notify", s.ID)
		}
	default:
		for i, t := range s.Targets {
			if _, ok := c.p.Environments[t]; !ok {
				c.add(sub(base, "targets", i), "step %q targets unknown environment %q%s", s.ID, t, suggest.DidYouMean(t, sortedKeys(c.p.Environments)))
			}
		}
		if s.Foreach == "service" {
			for _, t := range s.Targets {
				if e, ok := c.p.Environments[t]; ok && len(e.Services) == 0 {
					c.add(sub(base, "foreach"), "step %q: foreach service, but environment %q lists no services", s.ID, t)
				}
			}
		}
		if s.Deploy && len(s.Targets) == 0 {
			c.add(sub(base, "deploy"), "deploy step %q needs targets: the environments it changes", s.ID)
		}
		if s.Rollback != nil && !s.Deploy {
			c.addKey(sub(base, "rollback"), "step %q has a rollback but is not a deploy (deploy: true)", s.ID)
		}
		c.adapterParams(base, s.Adapter, s.With)
		c.paramPlaceholders(sub(base, "with"), s.With, s.Targets, s.Foreach)
		if s.Until != nil {
			src := s.Until.Expr
			if src == "" {
				src = `result.status == "passed"`
			}
			s.UntilProgram = c.expr(sub(base, "until", "expr"), src, s, true, fmt.Sprintf("step %q: until", s.ID))
			if s.Until.Interval != 0 && s.Until.Interval > s.Until.Deadline {
				c.add(sub(base, "until", "interval"), "step %q: until interval is longer than its deadline", s.ID)
			}
		}
		c.evidencePath(sub(base, "evidence"), s.Evidence, evidence)
		if s.Baseline != "" {
			if s.Evidence == "" {
				c.add(sub(base, "baseline"), "step %q keeps a baseline but writes no evidence", s.ID)
			}
			c.evidencePath(sub(base, "baseline"), s.Baseline, evidence)
		}
		if s.Rollback != nil {
			s.rollbackPath = sub(base, "rollback")
			c.action(s.rollbackPath, s.Rollback, s, s.Targets, s.Foreach, evidence)
			if s.Rollback.When != "" {
				c.add(sub(base, "rollback", "when"), "step %q: a rollback cannot have when: it always runs when its deploy is undone", s.ID)
			}
		}
	}
}

func statusText(sm *StatusMessage, passed bool) string {
	switch {
	case sm == nil:
		return ""
	case passed:
		return sm.Passed
	default:
		return sm.Failed
	}
}

// action checks a step's rollback or notify action at base, and returns
// its compiled when:, if any.
func (c *checker) action(base []any, a *Action, s *PlanStep, targets []string, foreach string, evidence map[string][]any) *Program {
	c.adapterParams(base, a.Adapter, a.With)
	c.paramPlaceholders(sub(base, "with"), a.With, targets, foreach)
	c.evidencePath(sub(base, "evidence"), a.Evidence, evidence)
	if a.When == "" {
		return nil
	}
	return c.expr(sub(base, "when"), a.When, nil, false, fmt.Sprintf("step %q: when", s.ID))
}

// flowEdges lists where a run can go from step s, for the analyses: a
// failed must step goes straight to its gate's failure branch.
func (c *checker) flowEdges(s *PlanStep) []string {
	pl := c.plan
	var out []string
	add := func(st State) { out = append(out, string(st)) }
	gateFail := func(g *PlanStep) {
		switch g.Gate.OnFail {
		case PolicyNotify:
			add(pl.Next(g))
		case PolicyHalt:
			add(pl.FirstOfPhase(g)) // retried after the fix
		}
	}
	switch {
	case s.Halt != nil:
		add(pl.Next(s))
	case s.Gate != nil:
		add(pl.Next(s))
		gateFail(s)
	default:
		add(pl.Next(s))
		if s.IsMust() {
			if t := pl.byID[string(s.OnFail)]; t != nil {
				gateFail(t)
			}
		}
	}
	if s.When != "" {
		add(pl.Next(s))
	}
	return out
}

func (c *checker) reachability() {
	pl := c.plan
	if len(pl.Steps) == 0 || c.dupSteps {
		return
	}
	seen := map[string]bool{pl.Steps[0].ID: true}
	queue := []*PlanStep{pl.Steps[0]}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, n := range c.flowEdges(s) {
			if t := pl.byID[n]; t != nil && !seen[n] {
				seen[n] = true
				queue = append(queue, t)
			}
		}
	}
	byPhase := map[*Phase][]*PlanStep{}
	for _, s := range pl.Steps {
		byPhase[s.Phase] = append(byPhase[s.Phase], s)
	}
	for _, ph := range c.p.Phases {
		reached := false
		for _, s := range ph.Steps {
			reached = reached || seen[s.ID]
		}
		if !reached {
			c.add([]any{"phases", pl.phaseIndex[ph]}, "phase %q is unreachable: every path jumps over it", ph.ID)
			continue
		}
		for _, s := range byPhase[ph] {
			if !seen[s.ID] {
				c.add(s.path, "step %q is unreachable: every path jumps over it", s.ID)
			}
		}
	}
}

// safety enforces the invariant: no step that deploys to a protected
// environment is reachable without passing an approval halt and every gate
// before it, and every such step has a rollback. Jumps only go forward, so
// file order is a topological order and one pass computes, for each step,
// the fewest approvals and gates on any path that reaches it.
func (c *checker) safety() {
	pl := c.plan
	n := len(pl.Steps)
	if n == 0 {
		return
	}
	const inf = 1 << 30
	minApprovals := make([]int, n)
	minGates := make([]int, n)
	for i := range minApprovals {
		minApprovals[i], minGates[i] = inf, inf
	}
	minApprovals[0], minGates[0] = 0, 0
	gatesBefore := 0
	for i, s := range pl.Steps {
		if minApprovals[i] == inf {
			if s.Gate != nil {
				gatesBefore++
			}
			continue // unreachable, reported elsewhere
		}
		if s.Deploy && c.protectedTarget(s) != "" {
			env := c.protectedTarget(s)
			if minApprovals[i] == 0 {
				c.add(s.path, "step %q deploys to protected environment %q without passing an approval halt on every path", s.ID, env)
			}
			if minGates[i] < gatesBefore {
				c.add(s.path, "step %q deploys to protected environment %q on a path that skips a gate before it", s.ID, env)
			}
			for _, st := range pl.Steps[:i] {
				if st.Gate != nil && !st.Gate.Blocking() {
					c.add(s.path, "step %q deploys to protected environment %q after gate %q, whose on_fail: notify lets failures through (on the gate or one of its criteria)", s.ID, env, st.ID)
				}
			}
			if s.Rollback == nil {
				c.add(s.path, "step %q deploys to protected environment %q but has no rollback", s.ID, env)
			}
		}
		a, g := minApprovals[i], minGates[i]
		if s.Halt != nil && s.Halt.Kind == HaltApproval {
			a++
		}
		if s.Gate != nil {
			if s.When == "" {
				g++ // a gate with when: may be skipped: it guards nothing for sure
			}
			gatesBefore++
		}
		for _, dst := range c.flowEdges(s) {
			t := pl.byID[dst]
			if t == nil || t.Index <= i {
				continue // terminal, or a retry of the phase: not a new path
			}
			// A failing gate's notify branch passes the gate without passing it.
			ga := g
			if s.Gate != nil && s.Gate.OnFail == PolicyNotify {
				ga = g - 1
			}
			if s.IsMust() && s.Kind() == StepAction && dst != string(pl.Next(s)) {
				ga = minGates[i] // jumped over the gate's success path
			}
			minApprovals[t.Index] = min(minApprovals[t.Index], a)
			minGates[t.Index] = min(minGates[t.Index], ga)
		}
	}
}

func (c *checker) protectedTarget(s *PlanStep) string {
	for _, t := range s.Targets {
		if e, ok := c.p.Environments[t]; ok && e.Protected {
			return t
		}
	}
	return ""
}

func withOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
