package authzen

import (
	"context"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/toolgate/toolgate/internal/call"
)

// Batch semantics of AuthZEN's evaluations API.
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

// MaxEvaluations bounds one batch.
const MaxEvaluations = 256

// EvaluationsRequest is the body of POST /access/v1/evaluations: top-level
// subject, action, resource and context are defaults for each item.
type EvaluationsRequest struct {
	Subject     *Entity             `json:"subject,omitempty"`
	Action      *Action             `json:"action,omitempty"`
	Resource    *Entity             `json:"resource,omitempty"`
	Context     *Context            `json:"context,omitempty"`
	Evaluations []EvaluationRequest `json:"evaluations,omitempty"`
	Options     *struct {
		Semantic string `json:"evaluations_semantic,omitempty"`
	} `json:"options,omitempty"`
}

// EvaluationsResponse answers a batch.
type EvaluationsResponse struct {
	Evaluations []*EvaluationResponse `json:"evaluations"`
}

// ParseEvaluations decodes and checks a batch request.
func ParseEvaluations(b []byte) (*EvaluationsRequest, error) {
	if len(b) > MaxRequestBytes {
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("request of %d bytes is larger than the limit of %d", len(b), MaxRequestBytes)}
	}
	var req EvaluationsRequest
	if err := jsonv2.Unmarshal(b, &req, strict); err != nil {
		return nil, decodeError(err)
	}
	if len(req.Evaluations) > MaxEvaluations {
		return nil, invalid("evaluations", "%d evaluations is more than the limit of %d", len(req.Evaluations), MaxEvaluations)
	}
	switch req.semantic() {
	case ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
	default:
		return nil, invalid("options.evaluations_semantic", "%q is not one of %s, %s, %s", req.Options.Semantic, ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit)
	}
	return &req, nil
}

func (r *EvaluationsRequest) semantic() string {
	if r.Options == nil || r.Options.Semantic == "" {
		return ExecuteAll
	}
	return r.Options.Semantic
}

// Single reports whether the batch is really one evaluation (no
// "evaluations" array), which AuthZEN answers like /evaluation.
func (r *EvaluationsRequest) Single() bool { return len(r.Evaluations) == 0 }

// Items returns each evaluation with the defaults applied (a member given in
// an item replaces the default as a whole).
func (r *EvaluationsRequest) Items() []*EvaluationRequest {
	if r.Single() {
		return []*EvaluationRequest{{Subject: r.Subject, Action: r.Action, Resource: r.Resource, Context: r.Context}}
	}
	out := make([]*EvaluationRequest, len(r.Evaluations))
	for i, e := range r.Evaluations {
		item := e
		if item.Subject == nil {
			item.Subject = r.Subject
		}
		if item.Action == nil {
			item.Action = r.Action
		}
		if item.Resource == nil {
			item.Resource = r.Resource
		}
		if item.Context == nil {
			item.Context = r.Context
		}
		out[i] = &item
	}
	return out
}

// Decider judges one call.
type Decider func(ctx context.Context, c *call.Call) call.Decision

// Evaluate runs a batch with its semantics, for caller (see CallAs; nil
// if nobody authenticated). An item that is not a valid request is a deny
// with the reason (it does not fail the batch).
func (r *EvaluationsRequest) Evaluate(ctx context.Context, now time.Time, caller *call.Principal, decide Decider) *EvaluationsResponse {
	out := &EvaluationsResponse{Evaluations: []*EvaluationResponse{}}
	for i, item := range r.Items() {
		resp := evaluateOne(ctx, item, now, caller, decide, fmt.Sprintf("evaluations[%d].", i))
		out.Evaluations = append(out.Evaluations, resp)
		switch sem := r.semantic(); {
		case sem == DenyOnFirstDeny && !resp.Decision:
			return out
		case sem == PermitOnFirstPermit && resp.Decision:
			return out
		}
	}
	return out
}

func evaluateOne(ctx context.Context, item *EvaluationRequest, now time.Time, caller *call.Principal, decide Decider, prefix string) *EvaluationResponse {
	var c *call.Call
	var err error
	switch {
	case item.Subject == nil && caller == nil:
		err = invalid(prefix+"subject", "is required")
	case item.Action == nil:
		err = invalid(prefix+"action", "is required")
	case item.Resource == nil:
		err = invalid(prefix+"resource", "is required")
	default:
		c, err = item.CallAs(now, caller)
	}
	if err != nil {
		code := CodeInvalidRequest
		if e, ok := err.(*Error); ok {
			code = e.Code
		}
		return Response(call.Denied("request", code, err.Error()))
	}
	return Response(decide(ctx, c))
}
