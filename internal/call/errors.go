package call

import (
	"errors"
	"fmt"
)

// Coded is an error with a stable, machine-readable code
// ("identity.expired", "task.revoked", …). Stages return it so that the
// denial they cause carries the code to the agent and the audit trail.
type Coded interface {
	error
	ErrorCode() string
}

// CodedError is the plain Coded error.
type CodedError struct {
	Code    string
	Message string
}

func (e *CodedError) Error() string     { return e.Message }
func (e *CodedError) ErrorCode() string { return e.Code }

// Errorf builds a CodedError.
func Errorf(code, format string, args ...any) error {
	return &CodedError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err, or fallback when it has none.
func CodeOf(err error, fallback string) string {
	var c Coded
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return fallback
}
