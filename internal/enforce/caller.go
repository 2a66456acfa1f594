package enforce

import (
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/policy"
)

// CodeOnBehalf denies a call that an authenticated caller asked about for
// another principal without a permission to.
const CodeOnBehalf = "identity.on_behalf_forbidden"

// checkCaller lets an authenticated caller (c.Caller) ask about its own
// calls, and about another principal's only where the organisation's
// policies permit Action::"Evaluate" on that principal. Without the
// permission the call is denied before anything else happens (no facts,
// no history, no approval is made for a principal that never called).
func (p *Pipeline) checkCaller(c *call.Call) error {
	if c.Caller == nil {
		return nil
	}
	var org *policy.Set
	if layers := p.cfg.Policies.Layers(); len(layers) > 0 {
		org = layers[0]
	}
	ok, why, err := policy.MayEvaluate(org, *c.Caller, c.Principal, c.Server.Name, c.Tool.Name, p.cfg.Limits)
	if err != nil {
		return call.Errorf(CodeOnBehalf, "%s may not ask about the calls of %s: %v", policy.PrincipalUID(*c.Caller), policy.PrincipalUID(c.Principal), err)
	}
	if !ok {
		return call.Errorf(CodeOnBehalf, "%s may not ask about the calls of %s: %s", policy.PrincipalUID(*c.Caller), policy.PrincipalUID(c.Principal), why)
	}
	return nil
}
