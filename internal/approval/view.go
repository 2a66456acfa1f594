package approval

import (
	"encoding/json"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// View is an approval as the API, the CLI and webhooks show it.
type View struct {
	ID    string `json:"id"`
	State string `json:"state"` // pending | approved | denied | expired | cancelled
	// Tool is the action: "<server>/<tool>".
	Tool      string          `json:"tool"`
	Principal string          `json:"principal"` // Agent::"x"
	Owner     string          `json:"owner,omitempty"`
	Groups    []string        `json:"groups,omitempty"`
	Chain     []string        `json:"chain,omitempty"`
	Task      *TaskView       `json:"task,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// ArgsSHA256 is the digest of the RFC 8785 canonical arguments the
	// approval is bound to.
	ArgsSHA256    string    `json:"args_sha256"`
	PolicyVersion string    `json:"policy_version"`
	Policies      []string  `json:"policies"`
	Reasons       []string  `json:"reasons"`
	DecisionID    string    `json:"decision_id"`
	CreatedAt     time.Time `json:"created_at"`
	// ExpiresAt: while pending, the deadline for an answer; once answered,
	// until when the answer can be used.
	ExpiresAt time.Time   `json:"expires_at"`
	Answer    *AnswerView `json:"answer,omitempty"`
	UsedAt    *time.Time  `json:"used_at,omitempty"`
	UsedBy    string      `json:"used_by,omitempty"`
}

// TaskView is the task a call serves.
type TaskView struct {
	ID      string `json:"id"`
	Purpose string `json:"purpose,omitempty"`
	Depth   int    `json:"depth"`
}

// AnswerView is a human's answer.
type AnswerView struct {
	Approver string    `json:"approver"`
	Channel  string    `json:"channel"`
	Comment  string    `json:"comment,omitempty"`
	Similar  bool      `json:"similar,omitempty"`
	At       time.Time `json:"at"`
}

func viewOf(a *store.Approval, rec *Record, now time.Time) *View {
	v := &View{
		ID: a.ID, State: a.State, Tool: a.Tool, Principal: a.Principal, Owner: a.Owner,
		Groups: rec.Principal.Groups, Chain: rec.Chain, Arguments: rec.Arguments,
		ArgsSHA256: a.ArgsSHA256, PolicyVersion: a.PolicyVersion, Policies: rec.Policies, Reasons: rec.Reasons,
		DecisionID: a.DecisionID, CreatedAt: a.CreatedAt.UTC(), ExpiresAt: a.ExpiresAt.UTC(), UsedBy: a.UsedBy,
	}
	if v.State == store.ApprovalPending && !now.Before(a.ExpiresAt) {
		v.State = store.ApprovalExpired
	}
	if v.Policies == nil {
		v.Policies = []string{}
	}
	if v.Reasons == nil {
		v.Reasons = []string{}
	}
	if rec.Task != nil {
		v.Task = &TaskView{ID: rec.Task.ID, Purpose: rec.Task.Purpose, Depth: rec.Task.Depth}
	}
	if a.State == store.ApprovalApproved || a.State == store.ApprovalDenied {
		v.Answer = &AnswerView{Approver: a.Approver, Channel: a.Channel, Comment: a.Comment, Similar: a.Similar, At: a.DecidedAt.UTC()}
	}
	if !a.UsedAt.IsZero() {
		t := a.UsedAt.UTC()
		v.UsedAt = &t
	}
	return v
}
