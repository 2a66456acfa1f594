package store

import (
	"context"
	"errors"
	"time"
)

// Approval states.
const (
	ApprovalPending   = "pending"   // waits for a human
	ApprovalApproved  = "approved"  // a human said yes
	ApprovalDenied    = "denied"    // a human said no
	ApprovalExpired   = "expired"   // nobody decided in time
	ApprovalCancelled = "cancelled" // the waiting client went away (approvals.on_disconnect: cancel)
)

// ErrApprovalOpen is returned by CreateApproval when an approval a call can
// still join already has the key: one call, one open approval.
var ErrApprovalOpen = errors.New("store: an approval with this key is open")

// ErrTooManyPending is returned by CreateApproval when the principal has as
// many pending approvals as it may.
var ErrTooManyPending = errors.New("store: too many pending approvals for this principal")

// ErrNotPending is returned when a decision is made on an approval that is
// no longer pending (decided, expired, cancelled) or whose time is up.
var ErrNotPending = errors.New("store: the approval is no longer pending")

// Approval is one request for a human's approval of one exact call, as
// stored. Key and SimilarKey are digests the approval package computes of
// the binding; the store only compares them. Call is kept byte for byte in
// the approval package's format.
type Approval struct {
	ID string
	// Key names the exact call: principal, task, tool, argument digest and
	// policy version. SimilarKey names the calls "similar" to it:
	// principal, task, tool and policy version.
	Key        string
	SimilarKey string
	// Copies of the binding, for listing and filtering.
	Principal     string // Cedar form: Agent::"x"
	Owner         string
	TaskID        string
	Tool          string // <server>/<tool>
	ArgsSHA256    string
	PolicyVersion string
	// DecisionID is the decision that asked.
	DecisionID string
	// Call is what an approver is shown (arguments, reasons, …).
	Call []byte

	CreatedAt time.Time
	// ExpiresAt is the deadline of the current state: for a pending
	// approval, of the decision; for an approved or denied one, of its use.
	ExpiresAt time.Time
	State     string

	DecidedAt time.Time
	Approver  string
	Channel   string
	Comment   string
	// Similar: the approval covers every call with the same SimilarKey
	// until ExpiresAt, not only the exact one, and is not used up.
	Similar bool

	// UsedAt and UsedBy: the call (decision id) that the decision was
	// delivered to. An approval or denial is used at most once.
	UsedAt time.Time
	UsedBy string
}

// ApprovalFilter selects approvals. Zero fields do not filter.
type ApprovalFilter struct {
	State     string
	Principal string
	TaskID    string
	Limit     int // newest first; 0: no limit
}

// ApprovalDecision is a human's answer.
type ApprovalDecision struct {
	State     string // ApprovalApproved or ApprovalDenied
	At        time.Time
	Approver  string
	Channel   string
	Comment   string
	Similar   bool
	ExpiresAt time.Time // until when the answer can be used
}

// Approvals stores pending approvals and the answers to them. Several
// processes (toolgate run, serve, the CLI) share one store: every state
// change is a compare-and-set on the state, so a decision is made once and
// used once whoever races.
type Approvals interface {
	// CreateApproval stores a new pending approval; its id must be new.
	// It stores nothing and returns ErrApprovalOpen if an approval with
	// a.Key is open at a.CreatedAt (as OpenApproval finds them), and
	// ErrTooManyPending if maxPending > 0 and a.Principal has maxPending
	// pending approvals whose ExpiresAt is after a.CreatedAt. The checks
	// and the insert are one atomic step for every process and replica.
	CreateApproval(ctx context.Context, a *Approval, maxPending int) error
	// Approval returns one approval, or ErrNotFound.
	Approval(ctx context.Context, id string) (*Approval, error)
	// Approvals lists the approvals matching f, newest first.
	Approvals(ctx context.Context, f ApprovalFilter) ([]*Approval, error)
	// OpenApproval returns the newest approval with the key that a call can
	// still join or use at now: pending, approved or denied, not used and
	// not past ExpiresAt. ErrNotFound if there is none.
	OpenApproval(ctx context.Context, key string, now time.Time) (*Approval, error)
	// SimilarGrant returns an approved, similar approval for similarKey
	// that is not past ExpiresAt at now, or ErrNotFound.
	SimilarGrant(ctx context.Context, similarKey string, now time.Time) (*Approval, error)
	// DecideApproval records a human's answer on a pending approval whose
	// ExpiresAt is after d.At. ErrNotPending otherwise; ErrNotFound if
	// there is no such approval.
	DecideApproval(ctx context.Context, id string, d ApprovalDecision) error
	// UseApproval delivers an approved or denied approval's answer to one
	// call: it reports false if it was delivered before (or is not decided,
	// or is past ExpiresAt at at). A similar approval stays usable by
	// further calls, and reports true to each.
	UseApproval(ctx context.Context, id, decisionID string, at time.Time) (bool, error)
	// CloseApproval moves a pending approval to state (ApprovalExpired or
	// ApprovalCancelled); false if it was no longer pending.
	CloseApproval(ctx context.Context, id, state string, at time.Time) (bool, error)
}
