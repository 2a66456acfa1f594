package call

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Effect is the outcome of judging a call.
type Effect string

const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
	// Ask means a human must approve this exact call before it runs.
	Ask Effect = "ask"
)

// rank orders effects from most to least permissive.
func (e Effect) rank() int {
	switch e {
	case Allow:
		return 0
	case Ask:
		return 1
	default: // Deny and anything unknown: fail closed.
		return 2
	}
}

// Stricter returns the more restrictive of e and o.
func (e Effect) Stricter(o Effect) Effect {
	if o.rank() > e.rank() {
		return o
	}
	if e.rank() == 2 {
		return Deny
	}
	return e
}

// ReasonKind says why a reason is there.
type ReasonKind string

const (
	// ReasonForbid: a forbid policy applied.
	ReasonForbid ReasonKind = "forbid"
	// ReasonApproval: a forbid with @approval applied; a human may allow the call.
	ReasonApproval ReasonKind = "approval"
	// ReasonNoPermit: no permit policy applied (Cedar's default deny).
	ReasonNoPermit ReasonKind = "no_permit"
	// ReasonError: something failed and the call is denied (fail closed).
	ReasonError ReasonKind = "error"
	// ReasonPermit: a permit policy applied (allowed calls).
	ReasonPermit ReasonKind = "permit"
)

// Reason is one cause of a decision, in words an agent (and its user) can read.
type Reason struct {
	Kind ReasonKind `json:"kind"`
	// Policy is the id of the policy behind the reason, if any.
	Policy string `json:"policy,omitempty"`
	// Layer is the policy layer the reason comes from ("org", "task", …).
	Layer   string `json:"layer,omitempty"`
	Message string `json:"message"`
	// Code is a stable machine-readable code for errors.
	Code string `json:"code,omitempty"`
	// Approval is the id of the approval the reason is about, when the
	// call waited for one and did not get an answer in time: the same call
	// made again once it is approved runs.
	Approval string `json:"approval,omitempty"`
}

// Diagnostic is operator-facing detail: policy evaluation errors, warnings.
type Diagnostic struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Policy   string `json:"policy,omitempty"`
	Layer    string `json:"layer,omitempty"`
	Location string `json:"location,omitempty"`
}

// Decision is the verdict on one call, with everything that determined it.
type Decision struct {
	ID     string `json:"decision_id"`
	Effect Effect `json:"effect"`
	// Stage is the pipeline stage that settled the decision.
	Stage string `json:"stage"`
	// Layer is the policy layer that decided (the first denying layer, or
	// the asking ones), when the decide stage settled it.
	Layer string `json:"layer,omitempty"`
	// Policies are the ids of the determining policies: the forbids that
	// applied on deny/ask, the permits that applied on allow.
	Policies      []string     `json:"policies"`
	Reasons       []Reason     `json:"reasons"`
	Diagnostics   []Diagnostic `json:"diagnostics,omitempty"`
	PolicyVersion string       `json:"policy_version,omitempty"`
	// Approval is the human answer that settled an "ask" (approved or
	// denied), set only by the approve stage.
	Approval *Approval `json:"approval,omitempty"`
}

// Approval is a human's answer to an "ask", as the decision and the audit
// trail carry it.
type Approval struct {
	// ID is the approval's id (the pending approval the human decided).
	ID string `json:"id"`
	// Approver is who decided, as a Cedar entity (User::"carol",
	// Webhook::"payments"); never the calling agent.
	Approver string `json:"approver"`
	// Channel is how the answer came: api, cli, link or elicitation.
	Channel string `json:"channel,omitempty"`
	// Approved is true for an approval, false for a denial.
	Approved bool      `json:"approved"`
	Time     time.Time `json:"time"`
	Comment  string    `json:"comment,omitempty"`
	// Waited is how long the call waited for the answer (0 for a call
	// allowed by an earlier answer).
	Waited time.Duration `json:"waited"`
	// Similar: the answer was "approve similar calls for this task", and
	// this call was let through by it.
	Similar bool `json:"similar,omitempty"`
}

// Allowed reports whether the call may run now.
func (d *Decision) Allowed() bool { return d.Effect == Allow }

// ReasonText joins the reasons into one line for an agent to read.
func (d *Decision) ReasonText() string {
	parts := make([]string, 0, len(d.Reasons))
	for _, r := range d.Reasons {
		if r.Kind == ReasonPermit {
			continue
		}
		parts = append(parts, r.Message)
	}
	return strings.Join(parts, "; ")
}

// Denied builds a deny decision for a failure outside policy evaluation. It
// is the one way stages fail closed, so every such deny reads alike.
func Denied(stage, code, message string) Decision {
	return Decision{
		Effect:   Deny,
		Stage:    stage,
		Policies: []string{},
		Reasons:  []Reason{{Kind: ReasonError, Code: code, Message: message}},
	}
}

// Credential is a per-call credential minted for an allowed call.
type Credential struct {
	// ID is the credential's unique id (a JWT's jti); the audit trail keeps it.
	ID      string
	Token   string
	Expires time.Time
	// AccessToken is an OAuth access token for the upstream that token
	// exchange obtained for this call's user, agent, audience and scope
	// ("" when none is configured).
	AccessToken string
	// Header holds brokered upstream secrets as HTTP headers for an HTTP
	// upstream (name → value).
	//
	// Token, AccessToken and Header are secrets: only the upstream request
	// may carry them. Nothing records or logs them (the audit trail keeps
	// ID only), and String prints ID only.
	Header map[string]string
}

// String names the credential without its secrets, so that a credential
// that reaches a log by accident shows its id only.
func (c Credential) String() string { return "credential " + c.ID }

// OutcomeStatus is how a forwarded call ended.
type OutcomeStatus string

const (
	OutcomeOK              OutcomeStatus = "ok"
	OutcomeToolError       OutcomeStatus = "tool_error"
	OutcomeUpstreamFailure OutcomeStatus = "upstream_failure"
	OutcomeTimeout         OutcomeStatus = "timeout"
	// OutcomeCancelled: the client gave up on the call (or went away)
	// while the server was working on it.
	OutcomeCancelled OutcomeStatus = "cancelled"
	// OutcomeNotForwarded: the call was allowed and recorded, but ended
	// (cancelled, timed out, toolgate stopping) before it was forwarded; the
	// server never saw it.
	OutcomeNotForwarded OutcomeStatus = "not_forwarded"
)

// Interrupted is the outcome of a call whose context ended (err is
// ctx.Err()) while the server was working on it.
func Interrupted(err error, detail string) Outcome {
	st := OutcomeCancelled
	if errors.Is(err, context.DeadlineExceeded) {
		st = OutcomeTimeout
	}
	return Outcome{Status: st, Error: detail}
}

// Outcome is what happened when an allowed call was forwarded.
type Outcome struct {
	Status OutcomeStatus
	// Result is the raw result, for the digest in the audit trail and for
	// the history stage; it is not stored whole.
	Result   []byte
	Duration time.Duration
	Error    string
}
