package enforce

import (
	"context"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/policy"
)

// The stages below stand in until their real implementations are
// configured. Stages before "decide" can only add to the call or fail, and a
// failure denies; stages after it can only keep or lower the effect. None of
// them can turn a deny into an allow.

// AsGiven takes the principal as the front door set it (the AuthZEN subject,
// a configured local principal). It only checks that there is one.
type AsGiven struct{}

func (AsGiven) Identify(_ context.Context, c *call.Call) error {
	if c.Principal.ID == "" {
		return Errorf("identity.missing", "the call has no principal: nobody is identified as making it")
	}
	return nil
}

// NoTasks serves no tasks. A call that presents a task token is denied:
// accepting it unverified would trust whatever scope it claims.
type NoTasks struct{}

func (NoTasks) ResolveTask(_ context.Context, c *call.Call) ([]*policy.Set, error) {
	if c.TaskToken != "" {
		return nil, Errorf("task.unsupported", "the call presents a task token, but task tokens are not enabled on this gateway")
	}
	return nil, nil
}

// NoApprover has no human to ask: an ask is denied with its approval reason.
type NoApprover struct{}

func (NoApprover) Await(_ context.Context, _ *call.Call, d call.Decision) (call.Decision, error) {
	d.Effect = call.Deny
	d.Stage = StageApprove
	d.Reasons = append(d.Reasons, call.Reason{Kind: call.ReasonError, Code: "approval.unavailable",
		Message: "this call needs a human's approval and no approval channel is configured"})
	return d, nil
}

type noCatalog struct{}

func (noCatalog) Describe(context.Context, *call.Call) (*cedarjson.Shape, error) { return nil, nil }

type noFacts struct{}

func (noFacts) FindFacts(context.Context, *call.Call) error { return nil }

type noHistory struct{}

func (noHistory) Recall(context.Context, *call.Call) error                 { return nil }
func (noHistory) Observe(context.Context, *call.Call, *call.Outcome) error { return nil }
