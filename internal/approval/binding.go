package approval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/jcs"
	"github.com/toolgate/toolgate/internal/policy"
)

// Binding is what an approval is for: this principal, in this task, calling
// this tool with exactly these arguments, under this policy version.
type Binding struct {
	Principal     string // Cedar form: Agent::"x"
	Owner         string
	TaskID        string
	Tool          string // <server>/<tool>
	ArgsSHA256    string // of the RFC 8785 canonical arguments
	PolicyVersion string
}

// ArgsDigest is the hex SHA-256 of the RFC 8785 canonical form of a call's
// arguments ({} when there are none). Arguments that cannot be put in
// canonical form exactly (see jcs.Exact) cannot be approved.
func ArgsDigest(input json.RawMessage) (string, error) {
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	canon, err := jcs.Exact(input)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}

// bind computes the binding of a call whose decision is d.
func bind(c *call.Call, d *call.Decision) (Binding, error) {
	digest, err := ArgsDigest(c.Input)
	if err != nil {
		return Binding{}, errorf(CodeArguments, "the call's arguments cannot be bound to an approval: %v", err)
	}
	b := Binding{
		Principal: principalUID(c.Principal).String(), Owner: c.Principal.Owner,
		Tool: c.Action(), ArgsSHA256: digest, PolicyVersion: d.PolicyVersion,
	}
	if c.Task != nil {
		b.TaskID = c.Task.ID
	}
	return b, nil
}

// Key names the exact call; SimilarKey the calls like it (any arguments).
func (b Binding) Key() string {
	return digestOf(b.Principal, b.Owner, b.TaskID, b.Tool, b.ArgsSHA256, b.PolicyVersion)
}

func (b Binding) SimilarKey() string {
	return digestOf("similar", b.Principal, b.Owner, b.TaskID, b.Tool, b.PolicyVersion)
}

func digestOf(parts ...string) string {
	// A JSON array of strings is unambiguous however the parts look.
	raw, _ := json.Marshal(parts)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func principalUID(p call.Principal) types.EntityUID { return policy.PrincipalUID(p) }

// Record is what toolgate keeps about the call an approval is for: what an
// approver is shown, and what the Cedar entity of the pending call is built
// from. It is stored as JSON with the approval.
type Record struct {
	Principal struct {
		Kind   call.PrincipalKind `json:"kind"`
		ID     string             `json:"id"`
		Groups []string           `json:"groups,omitempty"`
		Owner  string             `json:"owner,omitempty"`
	} `json:"principal"`
	Chain  []string   `json:"chain,omitempty"`
	Task   *call.Task `json:"task,omitempty"`
	Server struct {
		Name   string   `json:"name"`
		Trust  string   `json:"trust,omitempty"`
		Labels []string `json:"labels,omitempty"`
	} `json:"server"`
	Tool string `json:"tool"`
	// ActionGroups are the action groups of the tool's action
	// (Action::"<server>", CallTool, ReadOnly, Destructive, OpenWorld,
	// labels), as at the decision.
	ActionGroups []string        `json:"action_groups"`
	Arguments    json.RawMessage `json:"arguments"`
	// Policies and Reasons are the @approval policies that asked, and
	// their texts.
	Policies []string `json:"policies"`
	Reasons  []string `json:"reasons"`
}

// recordOf builds the record of a call that needs approval, redacted as
// the audit trail is (audit.redact): nothing written for approvers — the
// store, the API, the CLI, webhooks, elicitation — carries a secret the
// trail would not.
func (s *Service) recordOf(c *call.Call, d *call.Decision) *Record {
	red := s.o.Redactor
	r := &Record{Chain: c.Chain, Tool: c.Tool.Name, Policies: slices.Clone(d.Policies)}
	r.Arguments = json.RawMessage("{}")
	if len(c.Input) > 0 && json.Valid(c.Input) {
		r.Arguments = red.Arguments(c.Server.Name, c.Tool.Name, c.Input)
	}
	if c.Task != nil {
		t := *c.Task
		t.Purpose, _ = red.Text(t.Purpose)
		r.Task = &t
	}
	r.Principal.Kind, r.Principal.ID, r.Principal.Groups, r.Principal.Owner = c.Principal.Kind, c.Principal.ID, c.Principal.Groups, c.Principal.Owner
	r.Server.Name, r.Server.Trust, r.Server.Labels = c.Server.Name, c.Server.Trust, c.Server.Labels
	// The same groups as policy.NewRequest gives the action.
	r.ActionGroups = []string{c.Server.Name, "CallTool"}
	a := c.Tool.Annotations
	if a.IsReadOnly() {
		r.ActionGroups = append(r.ActionGroups, "ReadOnly")
	}
	if a.IsDestructive() {
		r.ActionGroups = append(r.ActionGroups, "Destructive")
	}
	if a.IsOpenWorld() {
		r.ActionGroups = append(r.ActionGroups, "OpenWorld")
	}
	r.ActionGroups = append(r.ActionGroups, c.Tool.Labels...)
	for _, reason := range d.Reasons {
		if reason.Kind == call.ReasonApproval {
			msg, _ := red.Text(reason.Message)
			r.Reasons = append(r.Reasons, msg)
		}
	}
	return r
}
