package policy

import (
	"fmt"
	"slices"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
)

// Administrative actions: requests about toolgate itself rather than tool
// calls, decided by the organisation's policy set.
var (
	// ActionApprove: may the principal answer the pending call (resource
	// Approval::"<id>")?
	ActionApprove = types.NewEntityUID(TypeAction, "Approve")
	// ActionEvaluate: may the principal (an authenticated AuthZEN caller)
	// ask about the calls of the resource (Agent::"x" or User::"x"), a
	// principal other than itself?
	ActionEvaluate = types.NewEntityUID(TypeAction, "Evaluate")
)

// Authorize decides an administrative request (Action::"Approve",
// Action::"Evaluate") against the set. It is stricter than Cedar:
//   - only a permit that names the action (action == Action::"Approve",
//     action in [..., Action::"Approve"]) grants it: a permit for every
//     action (`permit (principal, action, resource)`) is about tool calls
//     and grants no administrative power;
//   - a forbid that errors refuses (Cedar would skip it), and so does a
//     forbid with @approval (the question cannot wait for a person).
//
// It returns whether the request is allowed and, if not, why.
func (s *Set) Authorize(req cedar.Request, entities types.EntityMap) (bool, string) {
	var forbids, permits []int32
	for _, i := range s.anyAction {
		if s.policies[i].Forbid {
			forbids = append(forbids, i)
		}
	}
	for _, i := range append(slices.Clip(s.actionEq[req.Action]), s.actionIn[req.Action]...) {
		if s.policies[i].Forbid {
			forbids = append(forbids, i)
		} else {
			permits = append(permits, i)
		}
	}
	slices.Sort(forbids)
	forbids = slices.Compact(forbids)
	slices.Sort(permits)
	permits = slices.Compact(permits)
	if len(forbids) > 0 {
		_, diag := cedar.Authorize(candidateIter{s, forbids}, entities, req)
		if len(diag.Errors) > 0 {
			e := diag.Errors[0]
			return false, fmt.Sprintf("forbid policy %q failed to evaluate (%s), so it is refused", e.PolicyID, e.Message)
		}
		if len(diag.Reasons) > 0 {
			return false, fmt.Sprintf("policy %q forbids it", diag.Reasons[0].PolicyID)
		}
	}
	if len(permits) > 0 {
		if dec, _ := cedar.Authorize(candidateIter{s, permits}, entities, req); dec == cedar.Allow {
			return true, ""
		}
	}
	return false, fmt.Sprintf("no policy permits %s (a permit must name the action)", req.Action)
}

// PrincipalUID is the Cedar entity of a principal: Agent::"id" or
// User::"id".
func PrincipalUID(p call.Principal) types.EntityUID {
	t := TypeAgent
	if p.Kind == call.KindUser {
		t = TypeUser
	}
	return types.NewEntityUID(t, types.String(p.ID))
}

// PrincipalEntity is the Cedar entity of a principal as a call sees it:
// Group parents, the owner attribute, claims as tags.
func PrincipalEntity(p call.Principal, lim cedarjson.Limits) (types.Entity, error) {
	e, err := buildPrincipal(p, PrincipalUID(p), lim)
	if err != nil {
		return types.Entity{}, err
	}
	return e.entity, nil
}

// MayEvaluate tells whether caller may ask about a call that subject makes
// to action ("<server>/<tool>"): principal the caller, Action::"Evaluate",
// resource the subject (both with their groups, owner and claims), context
// {tool, server}. A caller asking about itself needs no permission.
func MayEvaluate(set *Set, caller, subject call.Principal, server, tool string, lim cedarjson.Limits) (bool, string, error) {
	if caller.Kind == subject.Kind && caller.ID == subject.ID {
		return true, "", nil
	}
	if set == nil {
		return false, "no policies are loaded", nil
	}
	ce, err := PrincipalEntity(caller, lim)
	if err != nil {
		return false, "", err
	}
	se, err := PrincipalEntity(subject, lim)
	if err != nil {
		return false, "", err
	}
	entities := types.EntityMap{ce.UID: ce, se.UID: se}
	req := cedar.Request{Principal: ce.UID, Action: ActionEvaluate, Resource: se.UID,
		Context: types.NewRecord(types.RecordMap{"tool": types.String(server + "/" + tool), "server": types.String(server)})}
	ok, why := set.Authorize(req, entities)
	return ok, why, nil
}
