package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// Defaults of action steps.
const (
	DefaultConcurrency = 16
	DefaultTimeout     = 5 * time.Minute
	defaultBackoff     = time.Second
	defaultMaxBackoff  = 30 * time.Second
	defaultInterval    = time.Second
)

// target is one fan-out item of a step.
type target struct {
	env     string
	service map[string]any
	item    string
}

func (r *Runner) targets(s *protocol.PlanStep) []target {
	if len(s.Targets) == 0 {
		return []target{{}}
	}
	var out []target
	for _, name := range s.Targets {
		e := r.p.Environments[name]
		if s.Foreach == "service" {
			for _, svc := range e.Services {
				out = append(out, target{env: name, service: svc, item: fmt.Sprint(svc["name"])})
			}
			continue
		}
		out = append(out, target{env: name, item: name})
	}
	return out
}

// scope resolves the placeholders of a with: block for one item.
func (r *Runner) scope(s *protocol.PlanStep, t target) protocol.Scope {
	var binding map[string]any
	if t.env != "" {
		binding = r.envBinding(t.env)
	}
	return func(name string) (any, bool) {
		root, key, _ := strings.Cut(name, ".")
		switch root {
		case "vars":
			v, ok := r.vars[key]
			return v, ok
		case "env":
			if key == "name" {
				return t.env, t.env != ""
			}
			v, ok := binding[key]
			return v, ok
		case "service":
			v, ok := t.service[key]
			return v, ok
		case "item":
			return t.item, true
		case "run":
			return r.st.ID, key == "id"
		case "step":
			return s.ID, key == "id"
		case "protocol":
			return r.p.ID, key == "id"
		}
		return nil, false
	}
}

func (r *Runner) envBinding(name string) map[string]any {
	e := r.p.Environments[name]
	if e == nil {
		return nil
	}
	b, _ := protocol.ExpandValue(e.With, r.varScope).(map[string]any)
	return b
}

// action runs an action step: every item, bounded fan-out, then evidence.
func (r *Runner) action(ctx context.Context, s *protocol.PlanStep) (protocol.Event, error) {
	a, err := r.set.Open(s.Adapter)
	if err != nil {
		return "", fmt.Errorf("step %q: %w", s.ID, err)
	}
	if s.Say != "" {
		r.announceText(r.fill(s.Say, nil), nil)
	}
	start := r.now()
	r.journal(store.KindStepStart, journal.StepStart{Step: s.ID, Time: start})
	if r.st.InFlight == nil {
		r.st.InFlight = map[string]time.Time{}
	}
	r.st.InFlight[s.ID] = start         // as Replay has it: what an interruption leaves
	if err := r.durable(); err != nil { // the step's start is durable before its adapter is called
		return "", err
	}
	r.emit(Event{Kind: EventStepStart, Phase: s.Phase.ID, Step: s.ID, Message: s.Title})

	ts := r.targets(s)
	items := make([]*journal.ItemResult, len(ts))
	limit := s.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, t := range ts {
		if s.SayEach != "" {
			r.announceText(r.fill(s.SayEach, map[string]any{"environment": t.env, "service": t.item, "item": t.item}), nil)
		}
		if len(ts) == 1 { // no fan-out: no goroutine to start and wait for
			items[i] = r.call(ctx, s, a, t)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			items[i] = r.call(ctx, s, a, t)
		}()
	}
	wg.Wait()

	rec := &journal.StepRecord{ID: s.ID, Status: "passed", Started: start, Ended: r.now(), Items: items, Evidence: s.Evidence, Deploy: s.Deploy}
	if !s.IsMust() {
		rec.Level = string(protocol.Guideline) // so the journal alone tells a warning
	}
	var failed []string
	for _, it := range items {
		if it.Status != "passed" {
			rec.Status = "failed"
			failed = append(failed, it.Label()+": "+it.Message)
		}
	}
	if rec.Status == "passed" {
		rec.Message = fmt.Sprintf("%d of %d passed", len(items), len(items))
	} else {
		rec.Message = strings.Join(failed, "; ")
		if ctx.Err() != nil {
			// Interrupted, not failed: no evidence and no outcome; the
			// journal keeps the step in flight and resume runs it again.
			return "", ctx.Err()
		}
	}
	if err := r.writeEvidence(s.Evidence, &Evidence{Kind: "step", ID: s.ID, Title: s.Title, Phase: s.Phase.ID,
		Adapter: s.Adapter, Level: levelOf(s.Step), Status: rec.Status, Started: rec.Started, Ended: rec.Ended,
		Message: rec.Message, Items: items}); err != nil {
		return "", err
	}
	r.st.RecordStep(rec)
	r.journal(store.KindStepEnd, rec)
	r.emit(Event{Kind: EventStepEnd, Phase: s.Phase.ID, Step: s.ID, Status: rec.Status, Message: rec.Message,
		Data: map[string]any{"duration_ms": ms(rec.Ended.Sub(rec.Started)), "level": levelOf(s.Step)}})
	for i, it := range items {
		if it.Status != "passed" && s.Error != "" {
			r.announce(s.Error, map[string]any{"environment": ts[i].env, "service": ts[i].item, "item": ts[i].item,
				"error": it.Message, "details": it.Message, "step": s.ID, "step.id": s.ID, "step.title": s.Title})
		}
	}
	if s.Status != nil {
		text := s.Status.Passed
		if rec.Status != "passed" {
			text = s.Status.Failed
		}
		if text != "" {
			r.announceText(r.fill(text, nil), nil)
		}
	}
	if rec.Status == "passed" {
		return protocol.EvPass, nil
	}
	if s.IsMust() {
		r.pendingFail = s.ID
		r.st.Failure = fmt.Sprintf("step %s failed: %s", s.ID, rec.Message)
	} else {
		// The run goes on: loudly, and someone is told.
		text := journal.StepWarning(s.ID, rec)
		r.warn(s, text)
		r.notifyDefault(ctx, Notification{Kind: NotifyWarning, Phase: s.Phase.ID, Step: s.ID, Message: text})
	}
	return protocol.EvFail, nil
}

func levelOf(s *protocol.Step) string {
	if s.Level == "" {
		return string(protocol.Must)
	}
	return string(s.Level)
}

// call runs one item: retries, until-polling and the step timeout around
// the adapter, and turns a panic into an error outcome.
func (r *Runner) call(ctx context.Context, s *protocol.PlanStep, a adapters.Adapter, t target) *journal.ItemResult {
	it := &journal.ItemResult{Environment: t.env, Item: t.item, Started: r.now()}
	if t.item == t.env {
		it.Item = ""
	}
	if err := r.journalFailed(); err != nil {
		// Callers stop before calling once the journal failed; this keeps
		// an adapter from being called whatever path got here.
		it.Ended, it.Status, it.Message = it.Started, adapters.Errored, "not called: "+r.redactText(err.Error())
		return it
	}
	params, _ := protocol.ExpandValue(withOrEmpty(s.With), r.scope(s, t)).(map[string]any)
	if why := r.effectRefusal(s, a, t, params); why != "" {
		// Not called: a call that may change a protected environment is a
		// deploy's (or its rollback's) only, with the values in force.
		it.Ended, it.Status, it.Message, it.NotCalled = it.Started, adapters.Failed, "not called: "+r.red.String(why), true
		r.emit(Event{Kind: EventItem, Step: s.ID, Status: string(it.Status), Message: it.Label() + ": " + it.Message})
		return it
	}
	req := &adapters.Request{Params: params, Env: t.env, Item: t.item, RunID: r.st.ID, Step: s.ID,
		IdempotencyKey: r.st.ID + "/" + s.ID + "/" + t.item, Secrets: r.secret, Dir: r.opts.Dir}
	if t.env != "" {
		req.Binding = r.envBinding(t.env)
	}
	req.Progress = r.adapterProgress(s, it)
	timeout := s.Timeout.D(DefaultTimeout)
	attempts := 1
	backoff, maxBackoff := defaultBackoff, defaultMaxBackoff
	if s.Retries != nil {
		attempts = s.Retries.Attempts
		backoff = s.Retries.Backoff.D(defaultBackoff)
		maxBackoff = s.Retries.MaxBackoff.D(defaultMaxBackoff)
	}
	var deadline time.Time
	var env map[string]any
	interval := defaultInterval
	if s.Until != nil {
		deadline = r.now().Add(time.Duration(s.Until.Deadline))
		interval = s.Until.Interval.D(defaultInterval)
		env = r.exprEnv() // until may read vars, steps, … besides result
	}
	var res *adapters.Result
	for n := 1; ; n++ {
		req.Attempt = n
		it.Attempts = n
		res = r.invoke(ctx, a, req, timeout)
		ok := res.Status == adapters.Passed
		if s.UntilProgram != nil {
			env["result"] = resultView(res)
			held, err := s.UntilProgram.EvalContext(ctx, env)
			if err != nil {
				res = &adapters.Result{Status: adapters.Errored, Message: "until: " + err.Error()}
				held = false
			}
			ok = held
			if !ok && res.Status == adapters.Passed {
				res.Status = adapters.Failed
				res.Message = "condition not met: " + s.Until.Source()
			}
		}
		if ok || ctx.Err() != nil {
			break
		}
		var wait time.Duration
		switch {
		case s.Until != nil:
			if !r.now().Add(interval).Before(deadline) {
				res.Message = fmt.Sprintf("%s (gave up after %s, deadline %s)", res.Message, plural(n, "attempt"), time.Duration(s.Until.Deadline))
				goto done
			}
			wait = interval
		case n < attempts:
			wait, backoff = nextBackoff(backoff, maxBackoff)
		default:
			goto done
		}
		r.emit(Event{Kind: EventAttempt, Step: s.ID, Status: string(res.Status),
			Message: fmt.Sprintf("%s: attempt %d: %s; next in %s", it.Label(), n, r.red.String(res.Message), wait),
			Data:    map[string]any{"attempt": n, "elapsed_ms": ms(r.now().Sub(it.Started))}})
		select {
		case <-ctx.Done():
			goto done
		case <-time.After(wait):
		}
	}
done:
	it.Ended = r.now()
	it.DurationMS = ms(it.Ended.Sub(it.Started))
	it.Status = res.Status
	if it.Status == "" {
		it.Status = adapters.Errored
	}
	// What the adapter returned is from outside: redacted here, where it
	// enters the run's records, by the value (redact.go).
	it.Message = r.red.String(res.Message)
	it.Measurements, _ = r.red.Value(jsonClean(res.Measurements)).(map[string]any)
	it.Details, _ = r.red.Value(jsonClean(res.Details)).(map[string]any)
	it.Output = truncate(r.red.String(res.Output), maxOutput) // redact first: a cut secret would survive
	r.emit(Event{Kind: EventItem, Step: s.ID, Status: string(it.Status), Message: it.Label() + ": " + it.Message})
	return it
}

// invoke calls the adapter once with its timeout, recovering a panic.
func (r *Runner) invoke(ctx context.Context, a adapters.Adapter, req *adapters.Request, timeout time.Duration) (res *adapters.Result) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			stack := string(debug.Stack())
			res = &adapters.Result{Status: adapters.Errored, Message: fmt.Sprintf("adapter panicked: %v", p), Output: truncate(stack, 4096)}
		}
	}()
	out, err := a.Run(cctx, req)
	switch {
	case err != nil && cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		return &adapters.Result{Status: adapters.Errored, Message: fmt.Sprintf("timed out after %s: %v", timeout, err)}
	case err != nil:
		return &adapters.Result{Status: adapters.Errored, Message: err.Error()}
	case out == nil:
		return &adapters.Result{Status: adapters.Errored, Message: "adapter returned no result"}
	}
	switch out.Status {
	case adapters.Passed, adapters.Failed, adapters.Errored:
	default:
		out.Message = fmt.Sprintf("adapter returned unknown status %q: %s", out.Status, out.Message)
		out.Status = adapters.Errored
	}
	return out
}

func resultView(res *adapters.Result) map[string]any {
	return map[string]any{"status": string(res.Status), "passed": res.Status == adapters.Passed,
		"message": res.Message, "measurements": orEmpty(res.Measurements), "details": orEmpty(res.Details), "output": res.Output}
}

// jsonClean round-trips v through JSON so evidence and expressions see
// plain JSON values whatever the adapter put in.
// jsonClean returns m as encoding/json would decode it back: numbers as
// float64, slices as []any, maps as map[string]any. The common shapes
// adapters return are converted directly; anything else takes a JSON round
// trip (the fan-out of a step calls this once per item).
func jsonClean(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	if out, ok := plainJSON(m); ok {
		return out.(map[string]any)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return map[string]any{"unencodable": err.Error()}
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// plainJSON converts v as a JSON round trip would, for the types it knows;
// ok is false when v holds anything else (or a number JSON cannot encode).
func plainJSON(v any) (out any, ok bool) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32:
		return plainJSON(float64(x))
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case map[string]any:
		if x == nil {
			return nil, true
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			if m[k], ok = plainJSON(e); !ok {
				return nil, false
			}
		}
		return m, true
	case []any:
		if x == nil {
			return nil, true
		}
		s := make([]any, len(x))
		for i, e := range x {
			if s[i], ok = plainJSON(e); !ok {
				return nil, false
			}
		}
		return s, true
	case []string:
		if x == nil {
			return nil, true
		}
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = e
		}
		return s, true
	case map[string]string:
		if x == nil {
			return nil, true
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		return m, true
	}
	return nil, false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…[truncated]"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// writeEvidence writes an evidence document at path (relative to the
// protocol's working directory); an empty path writes nothing.
func (r *Runner) writeEvidence(path string, ev *Evidence) error {
	if path == "" || r.opts.NoEvidence {
		return nil
	}
	if err := r.durable(); err != nil {
		return err
	}
	ev.Version = 1
	ev.Protocol = r.p.ID
	ev.RunID = r.st.ID
	ev.DurationMS = ms(ev.Ended.Sub(ev.Started))
	b, err := json.MarshalIndent(ev, "", "  ")
	if err == nil {
		err = r.writeArtifact(path, journal.ArtifactEvidence, append(b, '\n'))
	}
	if err != nil {
		return fmt.Errorf("write evidence %s: %w", path, err)
	}
	r.st.AddEvidence(r.runPath(path))
	return nil
}

// exprEnv is what gate criteria, when: and handoff expressions see.
func (r *Runner) exprEnv() map[string]any {
	steps := map[string]any{}
	for _, s := range r.p.Plan().Steps {
		if s.Kind() != "action" {
			continue
		}
		if rec := r.st.Steps[s.ID]; rec != nil {
			steps[s.ID] = stepView(rec)
		} else {
			steps[s.ID] = stepView(&journal.StepRecord{ID: s.ID, Status: "pending"})
		}
	}
	gates := map[string]any{}
	for _, s := range r.p.Plan().Steps {
		if s.Gate == nil {
			continue
		}
		g := map[string]any{"passed": false, "status": "pending"}
		if rec := r.st.Gates[s.ID]; rec != nil {
			g = map[string]any{"passed": rec.Passed, "status": passedOrFailed(rec.Passed), "policy": rec.Policy}
		}
		gates[s.ID] = g
	}
	baseline := map[string]any{}
	for k, v := range r.base {
		baseline[k] = v
	}
	missing := []any{}
	for _, s := range r.p.Plan().Steps {
		if rec := r.st.Steps[s.ID]; rec != nil && s.Evidence != "" && rec.Status != "skipped" && !r.opts.NoEvidence {
			if !r.hasFile(s.Evidence) {
				missing = append(missing, s.Evidence)
			}
		}
	}
	sort.Slice(missing, func(i, j int) bool { return fmt.Sprint(missing[i]) < fmt.Sprint(missing[j]) })
	return map[string]any{
		"steps": steps, "gates": gates, "inputs": r.inputs, "vars": r.vars, "baseline": baseline,
		"previous": baseline,
		"run": map[string]any{"id": r.st.ID, "rolled_back": r.st.RolledBack, "rollback_ok": r.st.RollbackOK,
			"missing_evidence": missing, "report_written": r.st.ReportWritten, "status": r.st.Status,
			"deployed": toAny(r.st.Deployed)},
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
