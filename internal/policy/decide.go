package policy

import (
	"fmt"
	"sync"

	"github.com/cedar-policy/cedar-go"

	"github.com/toolgate/toolgate/internal/call"
)

// Result is the policy verdict on a request: a call.Decision without the
// parts the pipeline adds (decision id, stage).
type Result struct {
	Effect        call.Effect
	Layer         string
	Policies      []string
	Reasons       []call.Reason
	Diagnostics   []call.Diagnostic
	PolicyVersion string
}

// Stable codes of decision diagnostics.
const (
	CodeEvalError = "policy.eval_error"
	CodeNoLayers  = "policy.none_loaded"
)

var idxPool = sync.Pool{New: func() any { s := make([]int32, 0, 64); return &s }}

// Decide evaluates the request against every layer. A call is allowed only
// if every layer allows it; the first denying layer decides a deny; asks from
// all layers are gathered. Layers are independent: a permit in one layer
// never helps another, which is what makes delegation narrow by construction.
func Decide(r *Request, layers ...*Set) Result {
	if len(layers) == 0 || layers[0] == nil {
		return Result{Effect: call.Deny, Policies: []string{}, Reasons: []call.Reason{{
			Kind: call.ReasonError, Code: CodeNoLayers, Message: "no policies are loaded; every call is denied"}}}
	}
	res := Result{Effect: call.Allow, PolicyVersion: LayersVersion(layers), Policies: []string{}}
	var asks []layerResult
	for _, set := range layers {
		if set == nil {
			continue
		}
		lr := set.decide(r)
		res.Diagnostics = append(res.Diagnostics, lr.diags...)
		switch lr.effect {
		case call.Deny:
			res.Effect = call.Deny
			res.Layer = set.Name
			res.Policies = lr.policies
			res.Reasons = lr.reasons
			return res
		case call.Ask:
			asks = append(asks, lr)
		default:
			res.Policies = append(res.Policies, lr.policies...)
		}
	}
	if len(asks) > 0 {
		res.Effect = call.Ask
		res.Policies = []string{}
		res.Reasons = nil
		res.Layer = asks[0].layer
		for _, a := range asks {
			res.Policies = append(res.Policies, a.policies...)
			res.Reasons = append(res.Reasons, a.reasons...)
		}
		return res
	}
	for _, id := range res.Policies {
		res.Reasons = append(res.Reasons, call.Reason{Kind: call.ReasonPermit, Policy: id, Message: "permitted by policy " + quote(id)})
	}
	return res
}

type layerResult struct {
	layer    string
	effect   call.Effect
	policies []string
	reasons  []call.Reason
	diags    []call.Diagnostic
}

// decide evaluates one layer: forbids first (an applicable forbid without
// @approval settles it), then permits.
func (s *Set) decide(r *Request) layerResult {
	bufp := idxPool.Get().(*[]int32)
	defer idxPool.Put(bufp)
	idx := s.candidates(r, *bufp)
	*bufp = idx

	var forbids, permits []int32
	for _, i := range idx {
		if s.policies[i].Forbid {
			forbids = append(forbids, i)
		} else {
			permits = append(permits, i)
		}
	}
	lr := layerResult{layer: s.Name}
	req := r.cedar()

	// Forbids. Cedar skips a policy whose evaluation errors; a forbid that
	// cannot be evaluated must deny instead, or a type error opens the door.
	var approvals []*Policy
	var denying []*Policy
	if len(forbids) > 0 {
		_, diag := cedar.Authorize(candidateIter{s, forbids}, r.entities, req)
		for _, e := range diag.Errors {
			p := s.byID[string(e.PolicyID)]
			denying = append(denying, p)
			lr.diags = append(lr.diags, call.Diagnostic{Code: CodeEvalError, Policy: p.ID, Layer: s.Name, Location: p.Location(),
				Message: fmt.Sprintf("forbid policy %q failed to evaluate: %s; the call is denied (fail closed)", p.ID, e.Message)})
		}
		for _, reason := range diag.Reasons {
			p := s.byID[string(reason.PolicyID)]
			if p.Approval != "" {
				approvals = append(approvals, p)
			} else {
				denying = append(denying, p)
			}
		}
	}
	if len(denying) > 0 {
		lr.effect = call.Deny
		for _, p := range denying {
			lr.policies = append(lr.policies, p.ID)
			lr.reasons = append(lr.reasons, forbidReason(s.Name, p, lr.diags))
		}
		return lr
	}

	// Permits.
	var permitted []string
	if len(permits) > 0 {
		_, diag := cedar.Authorize(candidateIter{s, permits}, r.entities, req)
		for _, e := range diag.Errors {
			p := s.byID[string(e.PolicyID)]
			lr.diags = append(lr.diags, call.Diagnostic{Code: CodeEvalError, Policy: p.ID, Layer: s.Name, Location: p.Location(),
				Message: fmt.Sprintf("permit policy %q failed to evaluate and does not permit: %s", p.ID, e.Message)})
		}
		for _, reason := range diag.Reasons {
			permitted = append(permitted, string(reason.PolicyID))
		}
	}
	if len(permitted) == 0 {
		lr.effect = call.Deny
		lr.policies = []string{}
		lr.reasons = []call.Reason{{Kind: call.ReasonNoPermit, Layer: s.Name,
			Message: fmt.Sprintf("no policy in layer %q permits %s to call %s", s.Name, r.principal, r.action.ID)}}
		return lr
	}
	if len(approvals) > 0 {
		lr.effect = call.Ask
		for _, p := range approvals {
			lr.policies = append(lr.policies, p.ID)
			lr.reasons = append(lr.reasons, call.Reason{Kind: call.ReasonApproval, Policy: p.ID, Layer: s.Name, Message: p.Approval})
		}
		return lr
	}
	lr.effect = call.Allow
	lr.policies = permitted
	return lr
}

func forbidReason(layer string, p *Policy, diags []call.Diagnostic) call.Reason {
	for _, d := range diags {
		if d.Policy == p.ID && d.Code == CodeEvalError {
			return call.Reason{Kind: call.ReasonError, Code: CodeEvalError, Policy: p.ID, Layer: layer,
				Message: fmt.Sprintf("policy %q could not be evaluated on this call, so the call is denied", p.ID)}
		}
	}
	msg := p.Reason
	if msg == "" {
		msg = "denied by policy " + quote(p.ID)
	}
	return call.Reason{Kind: call.ReasonForbid, Policy: p.ID, Layer: layer, Message: msg}
}

// Reachable tells whether a principal could ever be allowed to call an
// action, whatever the arguments and history: in every layer some permit's
// scope matches, and no forbid without conditions (and without @approval)
// matches. The MCP front doors hide tools that are not reachable. It looks
// only at scopes, so it errs towards "reachable"; the real decision is still
// made per call.
func Reachable(r *Request, layers ...*Set) (bool, string) {
	if len(layers) == 0 || layers[0] == nil {
		return false, "no policies are loaded"
	}
	for _, s := range layers {
		if s == nil {
			continue
		}
		permit := false
		for _, i := range s.candidates(r, nil) {
			p := s.policies[i]
			if !p.Forbid {
				permit = true
				continue
			}
			if p.Approval == "" && len(p.cedar.AST().Conditions) == 0 {
				return false, fmt.Sprintf("policy %q in layer %q forbids it unconditionally", p.ID, s.Name)
			}
		}
		if !permit {
			return false, fmt.Sprintf("no policy in layer %q can permit it", s.Name)
		}
	}
	return true, ""
}

// LayersVersion names the policies of a decision: the first layer's version,
// then name=version for each further layer, so one string identifies every
// policy that took part.
func LayersVersion(layers []*Set) string {
	if len(layers) == 0 || layers[0] == nil {
		return ""
	}
	v := layers[0].Version
	for _, l := range layers[1:] {
		if l != nil {
			v += " " + l.Name + "=" + l.Version
		}
	}
	return v
}
