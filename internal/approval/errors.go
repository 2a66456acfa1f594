package approval

import "fmt"

// Stable codes of approval errors and of the denials the approve stage
// makes.
const (
	CodeArguments     = "approval.arguments"        // the arguments cannot be bound (jcs.Exact)
	CodeStore         = "approval.store"            // the approval store failed
	CodePending       = "approval.pending"          // (AuthZEN) waiting for a human
	CodeDenied        = "approval.denied"           // a human denied the call
	CodeTimeout       = "approval.timeout"          // nobody answered in time
	CodeCancelled     = "approval.cancelled"        // the approval was cancelled (client went away)
	CodeDisconnected  = "approval.disconnected"     // the client went away; the approval is kept
	CodeStopping      = "approval.stopping"         // toolgate is stopping; the approval is kept
	CodeNotFound      = "approval.not_found"        // no such approval
	CodeNotPending    = "approval.not_pending"      // already answered, expired, cancelled
	CodeForbidden     = "approval.forbidden"        // the approver may not answer it (policy)
	CodeAgentApprover = "approval.agent"            // an agent tried to answer
	CodeSelf          = "approval.self"             // the caller tried to answer its own call
	CodeFourEyes      = "approval.four_eyes"        // the human the agent acts for tried to approve
	CodeSimilar       = "approval.similar"          // "similar calls" cannot be approved here
	CodeLink          = "approval.link_invalid"     // a link that is malformed, tampered with or expired
	CodeInvalid       = "approval.invalid"          // a malformed request
	CodeUnavailable   = "approval.unavailable"      // no way to reach a human
	CodeTooMany       = "approval.too_many_pending" // the caller has as many pending approvals as it may
)

// Error is an approval error with a stable code (it satisfies the
// pipeline's Coded interface).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string     { return e.Message }
func (e *Error) ErrorCode() string { return e.Code }

func errorf(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
