package protocol

import (
	"fmt"
	"github.com/protorun/protorun/adapters"
	"time"

	"gopkg.in/yaml.v3"
)

// Protocol is a loaded, validated protocol file, as [Load] and [Parse]
// return it. Its shape follows schemas/protocol.schema.json, which is the
// contract of the format.
type Protocol struct {
	Format    string `yaml:"protorun" json:"protorun"`
	ID        string `yaml:"id" json:"id"`
	Title     string `yaml:"title" json:"title"`
	Role      string `yaml:"role,omitempty" json:"role,omitempty"`
	Mission   string `yaml:"mission,omitempty" json:"mission,omitempty"`
	Critical  string `yaml:"critical,omitempty" json:"critical,omitempty"`
	Next      string `yaml:"next,omitempty" json:"next,omitempty"`
	Artifacts string `yaml:"artifacts,omitempty" json:"artifacts,omitempty"`
	// Root is the directory relative paths (inputs, scripts exec runs,
	// evidence) resolve from, relative to the directory of the protocol
	// file. Optional. Default is the protocol file's directory. A run
	// freezes it when it starts, unless the run is given another.
	Root         string                  `yaml:"root,omitempty" json:"root,omitempty"`
	Vars         map[string]*Var         `yaml:"vars,omitempty" json:"vars,omitempty"`
	Inputs       map[string]*Input       `yaml:"inputs,omitempty" json:"inputs,omitempty"`
	Outputs      map[string]*Output      `yaml:"outputs,omitempty" json:"outputs,omitempty"`
	Report       Report                  `yaml:"report,omitempty" json:"report,omitempty"`
	Environments map[string]*Environment `yaml:"environments,omitempty" json:"environments,omitempty"`
	Messages     map[string]*Message     `yaml:"messages,omitempty" json:"messages,omitempty"`
	Announce     Announce                `yaml:"announce,omitempty" json:"announce,omitempty"`
	Phases       []*Phase                `yaml:"phases" json:"phases"`
	Handoff      []*CheckItem            `yaml:"handoff,omitempty" json:"handoff,omitempty"`

	// File is the name the protocol was loaded from; Source its bytes and
	// Digest their sha256 in hex.
	File   string `yaml:"-" json:"-"`
	Source []byte `yaml:"-" json:"-"`
	Digest string `yaml:"-" json:"-"`

	// EnvOrder, VarOrder and InputOrder keep the order of the file's keys.
	EnvOrder   []string `yaml:"-" json:"-"`
	VarOrder   []string `yaml:"-" json:"-"`
	InputOrder []string `yaml:"-" json:"-"`

	root *yaml.Node
	plan *Plan
	// adapters is LoadOptions.Adapters as Load or Parse was given it: the
	// set its runs call unless Options.Adapters names another.
	adapters adapters.Set
}

// Plan returns the protocol's compiled view, which [Parse] builds.
func (p *Protocol) Plan() *Plan { return p.plan }

// Var is a named value. Optional fields default to their zero value.
type Var struct {
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Default     any    `yaml:"default,omitempty" json:"default,omitempty"`
	// Env names an environment variable that overrides Default.
	Env      string `yaml:"env,omitempty" json:"env,omitempty"`
	Required bool   `yaml:"required,omitempty" json:"required,omitempty"`
	// Secret values are redacted from everything protorun writes.
	Secret bool `yaml:"secret,omitempty" json:"secret,omitempty"`
}

// Input is a file from the protocol before, read when the run starts.
type Input struct {
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	From        string `yaml:"from,omitempty" json:"from,omitempty"`
	Path        string `yaml:"path" json:"path"`
	// Format is json, yaml or auto. Optional. Default is auto (by extension).
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// Required inputs that are missing fail the run before any step.
	// Optional. Default is false.
	Required   bool           `yaml:"required,omitempty" json:"required,omitempty"`
	Thresholds map[string]any `yaml:"thresholds,omitempty" json:"thresholds,omitempty"`
}

// Output is something the protocol hands on.
type Output struct {
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	To          string `yaml:"to,omitempty" json:"to,omitempty"`
	Path        string `yaml:"path" json:"path"`
}

// Report says where the run report goes.
type Report struct {
	JSON     string `yaml:"json,omitempty" json:"json,omitempty"`
	Markdown string `yaml:"markdown,omitempty" json:"markdown,omitempty"`
}

// Environment is a named target.
type Environment struct {
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Protected environments may only be deployed to after an approval halt
	// and passing gates, and only by steps with a rollback.
	Protected bool             `yaml:"protected,omitempty" json:"protected,omitempty"`
	With      map[string]any   `yaml:"with,omitempty" json:"with,omitempty"`
	Services  []map[string]any `yaml:"services,omitempty" json:"services,omitempty"`
}

// ServiceNames lists the environment's service names in file order.
func (e *Environment) ServiceNames() []string {
	out := make([]string, 0, len(e.Services))
	for _, s := range e.Services {
		out = append(out, fmt.Sprint(s["name"]))
	}
	return out
}

// Message is an announcement template with {placeholders}, and the recovery
// steps shown after it when it reports an error.
type Message struct {
	Text     string   `json:"text"`
	Recovery []string `json:"recovery,omitempty"`
}

// UnmarshalYAML accepts a plain string or a mapping with text and recovery.
func (m *Message) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		m.Text = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a message is a string or a mapping with text and recovery", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "text":
			m.Text = v.Value
		case "recovery":
			if err := v.Decode(&m.Recovery); err != nil {
				return err
			}
		default:
			return fmt.Errorf("line %d: field %s not found in type protocol.Message", k.Line, k.Value)
		}
	}
	return nil
}

// Announce names the messages the engine announces at fixed moments.
type Announce struct {
	Start            string `yaml:"start,omitempty" json:"start,omitempty"`
	PhaseBegin       string `yaml:"phase_begin,omitempty" json:"phase_begin,omitempty"`
	PhaseComplete    string `yaml:"phase_complete,omitempty" json:"phase_complete,omitempty"`
	Complete         string `yaml:"complete,omitempty" json:"complete,omitempty"`
	Failed           string `yaml:"failed,omitempty" json:"failed,omitempty"`
	RollbackDecision string `yaml:"rollback_decision,omitempty" json:"rollback_decision,omitempty"`
}

// Phase is a numbered group of steps.
type Phase struct {
	ID     string  `yaml:"id" json:"id"`
	Number int     `yaml:"number,omitempty" json:"number,omitempty"`
	Title  string  `yaml:"title" json:"title"`
	Steps  []*Step `yaml:"steps" json:"steps"`
}

// Level says whether a step's failure stops the flow.
type Level string

// Step levels.
const (
	Must      Level = "must"
	Guideline Level = "guideline"
)

// Policy is what a gate's failure does.
type Policy string

// Gate failure policies.
const (
	PolicyHalt     Policy = "halt"
	PolicyRollback Policy = "rollback"
	PolicyNotify   Policy = "notify"
)

// StepKind is what a step is: an adapter call, a halt or a gate.
type StepKind string

// Step kinds, as [Step.Kind] returns them.
const (
	StepAction StepKind = "action"
	StepHalt   StepKind = "halt"
	StepGate   StepKind = "gate"
)

// Step is one item of a phase: an action (Adapter set), a halt or a gate.
type Step struct {
	ID    string `yaml:"id" json:"id"`
	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	// Level is must or guideline. Optional. Default is must.
	Level   Level  `yaml:"level,omitempty" json:"level,omitempty"`
	Say     string `yaml:"say,omitempty" json:"say,omitempty"`
	SayEach string `yaml:"say_each,omitempty" json:"say_each,omitempty"`
	// When skips the step unless the expression holds.
	When string `yaml:"when,omitempty" json:"when,omitempty"`
	// Next jumps forward to the named step when this one passes.
	Next    string   `yaml:"next,omitempty" json:"next,omitempty"`
	Targets []string `yaml:"targets,omitempty" json:"targets,omitempty"`
	// Foreach is environment or service. Optional. Default is environment.
	Foreach string `yaml:"foreach,omitempty" json:"foreach,omitempty"`
	// Concurrency bounds the fan-out. Optional. Default is 16.
	Concurrency int            `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
	Adapter     string         `yaml:"adapter,omitempty" json:"adapter,omitempty"`
	With        map[string]any `yaml:"with,omitempty" json:"with,omitempty"`
	// Timeout bounds each adapter call. Optional. Default is 5m.
	Timeout  Duration       `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Retries  *Retries       `yaml:"retries,omitempty" json:"retries,omitempty"`
	Until    *Until         `yaml:"until,omitempty" json:"until,omitempty"`
	Evidence string         `yaml:"evidence,omitempty" json:"evidence,omitempty"`
	Baseline string         `yaml:"baseline,omitempty" json:"baseline,omitempty"`
	Deploy   bool           `yaml:"deploy,omitempty" json:"deploy,omitempty"`
	Rollback *Action        `yaml:"rollback,omitempty" json:"rollback,omitempty"`
	Status   *StatusMessage `yaml:"status,omitempty" json:"status,omitempty"`
	Error    string         `yaml:"error,omitempty" json:"error,omitempty"`
	Halt     *Halt          `yaml:"halt,omitempty" json:"halt,omitempty"`
	Gate     *Gate          `yaml:"gate,omitempty" json:"gate,omitempty"`

	// Effect declares what the adapter call does when its adapter cannot
	// tell (adapters.MayMutate): "read-only", with EffectReason, or
	// "mutating". It never makes read-only a call its adapter says mutates.
	// Optional. Default is what the adapter says.
	Effect string `yaml:"effect,omitempty" json:"effect,omitempty"`
	// EffectReason is the written acceptance of responsibility that comes
	// with effect: read-only: why the call only reads.
	EffectReason string `yaml:"effect_reason,omitempty" json:"effect_reason,omitempty"`
}

// Kind is [StepAction], [StepHalt] or [StepGate].
func (s *Step) Kind() StepKind {
	switch {
	case s.Halt != nil:
		return StepHalt
	case s.Gate != nil:
		return StepGate
	default:
		return StepAction
	}
}

// IsMust reports whether a failure of the step stops the flow.
func (s *Step) IsMust() bool { return s.Level != Guideline }

// Retries re-runs a failed adapter call.
type Retries struct {
	Attempts int `yaml:"attempts" json:"attempts"`
	// Backoff before the second attempt, doubling after. Optional. Default is 1s.
	Backoff Duration `yaml:"backoff,omitempty" json:"backoff,omitempty"`
	// MaxBackoff caps the doubling. Optional. Default is 30s.
	MaxBackoff Duration `yaml:"max_backoff,omitempty" json:"max_backoff,omitempty"`
}

// Until polls the adapter until Expr holds over its result or Deadline passes.
type Until struct {
	// Expr over result (the adapter's Result). Optional. Default is
	// result.status == "passed".
	Expr string `yaml:"expr,omitempty" json:"expr,omitempty"`
	// Interval between polls. Optional. Default is 1s.
	Interval Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Deadline Duration `yaml:"deadline" json:"deadline"`
}

// Action is an adapter call outside the main flow (rollback, notification).
type Action struct {
	Adapter  string         `yaml:"adapter" json:"adapter"`
	With     map[string]any `yaml:"with,omitempty" json:"with,omitempty"`
	Timeout  Duration       `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Evidence string         `yaml:"evidence,omitempty" json:"evidence,omitempty"`
	When     string         `yaml:"when,omitempty" json:"when,omitempty"`

	// Effect and EffectReason declare what the call does, as a step's do.
	Effect       string `yaml:"effect,omitempty" json:"effect,omitempty"`
	EffectReason string `yaml:"effect_reason,omitempty" json:"effect_reason,omitempty"`
}

// StatusMessage holds the automation status lines of a step.
type StatusMessage struct {
	Passed string `yaml:"passed,omitempty" json:"passed,omitempty"`
	Failed string `yaml:"failed,omitempty" json:"failed,omitempty"`
}

// HaltKind is what a halt asks for.
type HaltKind string

// Halt kinds.
const (
	HaltApproval     HaltKind = "approval"
	HaltConfirmation HaltKind = "confirmation"
)

// RoleApprover prefixes a halt's approvers entry that names a role of the
// store rather than a person: role:release-managers matches a decision
// whose store identity (the engine's Decision.StoreIdentity) is that role
// or a member of it. Only a store that authenticates its writers (an
// Identifier, such as a database) records an identity it vouches for; on
// any other store a role approver matches nobody.
const RoleApprover = "role:"

// Halt stops the run for a human decision.
type Halt struct {
	Kind   HaltKind `yaml:"kind" json:"kind"`
	Prompt string   `yaml:"prompt" json:"prompt"`
	// Approvers who may decide. Optional. Default is anyone.
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	// AllowStarter says whether the one who started the run may decide.
	// Optional. Default is true.
	AllowStarter *bool `yaml:"allow_starter,omitempty" json:"allow_starter,omitempty"`
	// Expires rejects the halt by itself after this long. Optional. Default
	// is never.
	Expires Duration `yaml:"expires,omitempty" json:"expires,omitempty"`
	// Reason says whether an approval must give a reason: "required" or
	// "optional". Optional. Default is required for an approval halt that
	// guards a deploy to a protected environment (Protocol.ReasonRequired),
	// optional otherwise.
	Reason string `yaml:"reason,omitempty" json:"reason,omitempty"`
}

// Gate is a quality gate: criteria over the evidence so far.
type Gate struct {
	Title    string       `yaml:"title" json:"title"`
	Criteria []*Criterion `yaml:"criteria" json:"criteria"`
	OnFail   Policy       `yaml:"on_fail" json:"on_fail"`
	Confirm  bool         `yaml:"confirm,omitempty" json:"confirm,omitempty"`
	Message  string       `yaml:"message,omitempty" json:"message,omitempty"`
	Notify   *Action      `yaml:"notify,omitempty" json:"notify,omitempty"`
	Evidence string       `yaml:"evidence,omitempty" json:"evidence,omitempty"`
}

// Blocking reports whether a failure of the gate stops the flow.
func (g *Gate) Blocking() bool {
	if g.OnFail != PolicyHalt && g.OnFail != PolicyRollback {
		return false
	}
	for _, c := range g.Criteria {
		if c.OnFail == PolicyNotify {
			return false // that criterion's failure lets the run through
		}
	}
	return true
}

// Criterion is one named expression of a gate.
type Criterion struct {
	Name string `yaml:"name" json:"name"`
	Expr string `yaml:"expr" json:"expr"`
	// OnFail overrides the gate's policy for this criterion. Optional.
	OnFail Policy `yaml:"on_fail,omitempty" json:"on_fail,omitempty"`
}

// CheckItem is an item of the handoff checklist.
type CheckItem struct {
	Item string `yaml:"item" json:"item"`
	Expr string `yaml:"expr" json:"expr"`
}

// Duration is a time.Duration written as "10s", "1m30s".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err == nil && v < 0 {
		return fmt.Errorf("line %d: %q must not be negative (like 500ms, 10s, 2m)", n.Line, n.Value)
	}
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (like 500ms, 10s, 2m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// D returns the time.Duration, or def when d is zero.
func (d Duration) D(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// Adapters returns the set [LoadOptions].Adapters gave [Load] or [Parse]:
// the adapters the protocol's runs call unless a run names another set;
// nil when none was given.
func (p *Protocol) Adapters() adapters.Set { return p.adapters }
