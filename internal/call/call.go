// Package call holds the domain types every stage of toolgate shares: the tool
// call being judged and the decision about it. It depends on nothing else in
// toolgate so that every package can import it.
package call

import (
	"encoding/json"
	"time"
)

// PrincipalKind tells a workload from a person. It decides the Cedar entity
// type of the principal (Agent or User), so it is part of the policy contract.
type PrincipalKind string

const (
	KindAgent PrincipalKind = "agent"
	KindUser  PrincipalKind = "user"
)

// Principal is who makes the call.
type Principal struct {
	Kind PrincipalKind
	ID   string
	// Groups become Group parents of the principal entity.
	Groups []string
	// Owner is the human an agent acts for, when known.
	Owner string
	// Claims are the remaining identity attributes (token claims, AuthZEN
	// subject properties). They become entity tags, so policies read them
	// with principal.getTag("…").
	Claims map[string]any
}

// Annotations are the MCP tool annotations toolgate trusts for a tool: either
// pinned from the upstream's first tools/list or set by the operator. A nil
// field means "not stated", which takes the MCP default.
type Annotations struct {
	ReadOnly    *bool `json:"readOnlyHint,omitempty" yaml:"read_only,omitempty"`
	Destructive *bool `json:"destructiveHint,omitempty" yaml:"destructive,omitempty"`
	Idempotent  *bool `json:"idempotentHint,omitempty" yaml:"idempotent,omitempty"`
	OpenWorld   *bool `json:"openWorldHint,omitempty" yaml:"open_world,omitempty"`
}

// Merge returns a with every field that o states replaced by o's value.
func (a Annotations) Merge(o Annotations) Annotations {
	if o.ReadOnly != nil {
		a.ReadOnly = o.ReadOnly
	}
	if o.Destructive != nil {
		a.Destructive = o.Destructive
	}
	if o.Idempotent != nil {
		a.Idempotent = o.Idempotent
	}
	if o.OpenWorld != nil {
		a.OpenWorld = o.OpenWorld
	}
	return a
}

// IsReadOnly follows the MCP default: a tool is read-only only if it says so.
func (a Annotations) IsReadOnly() bool { return a.ReadOnly != nil && *a.ReadOnly }

// IsDestructive follows the MCP default: a tool that is not read-only is
// destructive unless it says it is not.
func (a Annotations) IsDestructive() bool {
	return !a.IsReadOnly() && (a.Destructive == nil || *a.Destructive)
}

// IsOpenWorld follows the MCP default: open world unless the tool says not.
func (a Annotations) IsOpenWorld() bool { return a.OpenWorld == nil || *a.OpenWorld }

// Server describes the upstream that serves a tool.
type Server struct {
	Name string
	// Trust is "trusted" or "untrusted".
	Trust  string
	Labels []string
}

// Tool describes the tool being called.
type Tool struct {
	Name        string
	Annotations Annotations
	// Labels add the action to more action groups (Action::"<label>").
	Labels []string
	// InputSchema is the tool's JSON Schema, when known; numbers in the
	// arguments convert by it.
	InputSchema json.RawMessage
	// Outputs label fields of the tool's output by path
	// ("transactions[].subject": "untrusted", "[].iban": "trusted"), for
	// the history stage's provenance.
	Outputs map[string]string
}

// Task is the task a call serves.
type Task struct {
	ID      string
	Purpose string
	// Depth is the number of delegation hops below the task's first agent.
	Depth int
	// Root is the id of the task the delegation chain started from (ID
	// itself for a root task; "" when unknown).
	Root string
}

// Flow is what the task has seen so far (history stage).
type Flow struct {
	Untrusted bool
	Private   bool
	// Tainted names the arguments whose values came from untrusted output.
	Tainted []string
	// TaintedLinks names the arguments of Tainted that hold a web address,
	// a host name or an e-mail address from untrusted output: a link or an
	// address an injection wants passed on, as opposed to a date or an
	// amount a summary repeats.
	TaintedLinks []string
	// Trusted names the arguments every value of which came from the user:
	// the task's purpose, a person's own input, or a tool output field
	// labelled trusted.
	Trusted []string
	// Sources are, for each argument named as in Tainted, where its values
	// were seen.
	Sources map[string][]Source
}

// Source is where a value was seen: a field of a tool's output (Tool
// "<server>/<tool>", Field its path with array positions dropped, "" for
// plain text), or the user (Label "user": Field "purpose" for the task's
// purpose, "input" for a person's own arguments). Label is untrusted,
// trusted or user.
type Source struct {
	Tool  string `json:"tool" yaml:"tool"`
	Field string `json:"field" yaml:"field"`
	Label string `json:"label" yaml:"label"`
}

// Call is one tool call under judgement.
type Call struct {
	// ID is the decision id; the pipeline assigns it.
	ID   string
	Time time.Time

	Principal Principal
	// IdentityToken is the identity credential the caller presented (an
	// OIDC/OAuth JWT or an API key), raw; the identify stage verifies it and
	// fills Principal. Empty for front doors that state the principal
	// themselves (AuthZEN subject, the stdio proxy's configured principal).
	IdentityToken string
	// IdentityIssuer is the identity provider that issued IdentityToken,
	// set by the identify stage only when the token is a JWT it verified
	// from a configured issuer (never for an API key). Only such a token
	// may leave toolgate (token exchange).
	IdentityIssuer string
	// Caller is who asked about the call, authenticated, when the front
	// door states the principal for someone (the AuthZEN caller, whose
	// subject may be another principal); nil when nobody authenticated.
	// A caller that is not the principal may ask only where policy permits
	// Action::"Evaluate" on the principal.
	Caller *Principal
	// Chain is the delegation chain, outermost (current) actor first.
	Chain []string
	// Task is nil when the call serves no task.
	Task *Task
	// TaskToken is the raw task token the caller presented, if any.
	TaskToken string

	Server Server
	Tool   Tool
	// Input is the tool arguments as the caller sent them (a JSON object).
	Input json.RawMessage

	// Facts are classifier results keyed by classifier name (facts stage).
	Facts map[string]any
	Flow  Flow
	// Windows are the history stage's counts, sums and flags over earlier
	// calls, keyed by the names the configuration declares them under
	// (context.windows.<name>). JSON-like values, as Facts.
	Windows map[string]any
}

// Action is the name of the Cedar action for the call: "<server>/<tool>".
func (c *Call) Action() string { return c.Server.Name + "/" + c.Tool.Name }

// ActorType tells a human from an agent from a sub-agent, for the audit trail.
func (c *Call) ActorType() string {
	switch {
	case c.Principal.Kind == KindUser:
		return "human"
	case len(c.Chain) > 1 || (c.Task != nil && c.Task.Depth > 0):
		return "sub-agent"
	default:
		return "agent"
	}
}
