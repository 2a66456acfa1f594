package approval

import (
	"encoding/json"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store"
)

// Entity types and the action of the approval model (docs/approvals.md).
const (
	TypeApproval types.EntityType = "Approval"
	TypeWebhook  types.EntityType = "Webhook"
)

// ActionApprove is the action of every answer, approve or deny.
var ActionApprove = policy.ActionApprove

// Channels an answer comes through.
const (
	ChannelAPI         = "api"
	ChannelCLI         = "cli"
	ChannelLink        = "link"
	ChannelElicitation = "elicitation"
	ChannelConsole     = "console"
)

// Approver is who answers.
type Approver struct {
	// Principal is the approver as identified: a User for a person (an
	// Agent is always refused). For a link it is unset and Webhook names
	// the webhook whose link was used.
	Principal call.Principal
	Webhook   string
	Channel   string
	// Operator marks the local operator (`toolgate approval` on the data
	// directory): like `toolgate task`, it may do what an admin may, so no
	// Approve policy is asked; the rules below still hold.
	Operator bool
}

// UID is the approver as a Cedar entity.
func (a Approver) UID() types.EntityUID {
	if a.Webhook != "" {
		return types.NewEntityUID(TypeWebhook, types.String(a.Webhook))
	}
	return principalUID(a.Principal)
}

// Answer is a human's answer.
type Answer struct {
	Approve bool
	Comment string
	// Similar approves every call of the same principal to the same tool in
	// the same task (and policy version) for approvals.similar_ttl, not
	// only this one.
	Similar bool
}

// MaxCommentBytes bounds a comment.
const MaxCommentBytes = 4096

// authorize applies the rules no policy can change, then, unless the
// approver is the local operator, asks the organisation's policies whether
// the approver may give this answer on this pending call.
func (s *Service) authorize(a *store.Approval, rec *Record, who Approver, ans Answer, now time.Time) error {
	if len(ans.Comment) > MaxCommentBytes {
		return errorf(CodeInvalid, "the comment is longer than %d bytes", MaxCommentBytes)
	}
	if who.Webhook == "" {
		if who.Principal.ID == "" {
			return errorf(CodeForbidden, "the approver is not identified")
		}
		if who.Principal.Kind != call.KindUser {
			return errorf(CodeAgentApprover, "%s is an agent; only a person can approve or deny a tool call", who.UID())
		}
		if who.UID().String() == a.Principal {
			return errorf(CodeSelf, "%s made this call and cannot answer for it", who.UID())
		}
		if s.cfg.FourEyes && who.Principal.ID == a.Owner && a.Owner != "" {
			return errorf(CodeFourEyes, "%s is the person the agent acts for; with four eyes, someone else must answer", who.UID())
		}
	} else if s.cfg.FourEyes && ans.Approve {
		return errorf(CodeFourEyes, "with four eyes a link can only deny: who clicked it is not known; approve through the API or the CLI")
	}
	if ans.Similar {
		switch {
		case !ans.Approve:
			return errorf(CodeInvalid, "only an approval can cover similar calls")
		case s.cfg.NoSimilar:
			return errorf(CodeSimilar, "approving similar calls is turned off (approvals.no_similar)")
		case a.TaskID == "":
			return errorf(CodeSimilar, "the call serves no task, so there is nothing to bound \"similar calls\" by; approve it alone")
		}
	}
	if who.Operator {
		return nil
	}
	layers := s.o.Policies.Layers()
	if len(layers) == 0 || layers[0] == nil {
		return errorf(CodeForbidden, "no policies are loaded, so nobody may approve")
	}
	allowed, why, err := s.mayAnswer(layers[0], a, rec, who, ans, now)
	if err != nil {
		return errorf(CodeForbidden, "%s may not answer approval %s: %v", who.UID(), a.ID, err)
	}
	if !allowed {
		return errorf(CodeForbidden, "%s may not answer approval %s: %s", who.UID(), a.ID, why)
	}
	return nil
}

// mayAnswer evaluates Action::"Approve" against the organisation's policy
// set (policy.Set.Authorize: only a permit that names the action grants
// it; a forbid that errors, or one with @approval, refuses).
func (s *Service) mayAnswer(set *policy.Set, a *store.Approval, rec *Record, who Approver, ans Answer, now time.Time) (bool, string, error) {
	entities, err := s.entities(a, rec, who)
	if err != nil {
		return false, "", err
	}
	decision := "deny"
	if ans.Approve {
		decision = "approve"
	}
	ctx := types.NewRecord(types.RecordMap{
		"decision": types.String(decision),
		"similar":  types.Boolean(ans.Similar),
		"channel":  types.String(who.Channel),
		"comment":  types.String(ans.Comment),
		"system":   types.NewRecord(types.RecordMap{"now": types.NewDatetime(now)}),
	})
	req := cedar.Request{Principal: who.UID(), Action: ActionApprove, Resource: types.NewEntityUID(TypeApproval, types.String(a.ID)), Context: ctx}
	ok, why := set.Authorize(req, entities)
	return ok, why, nil
}

// entities builds the request's entities: the approver, the pending call
// (Approval::"<id>" in Server::"<server>"), its caller, its action with the
// action groups, and the server.
func (s *Service) entities(a *store.Approval, rec *Record, who Approver) (types.EntityMap, error) {
	m := types.EntityMap{}
	approver := types.Entity{UID: who.UID(), Attributes: types.NewRecord(nil)}
	if who.Webhook == "" {
		var groups []types.EntityUID
		for _, g := range who.Principal.Groups {
			groups = append(groups, types.NewEntityUID(policy.TypeGroup, types.String(g)))
		}
		approver.Parents = types.NewEntityUIDSet(groups...)
		if len(who.Principal.Claims) > 0 {
			v, err := cedarjson.FromGo(who.Principal.Claims, "principal.claims", s.o.Limits)
			if err != nil {
				return nil, err
			}
			if rec, ok := v.(types.Record); ok {
				approver.Tags = rec
			}
		}
	}
	m[approver.UID] = approver

	caller := types.NewEntityUID(policy.TypeAgent, types.String(rec.Principal.ID))
	if rec.Principal.Kind == call.KindUser {
		caller = types.NewEntityUID(policy.TypeUser, types.String(rec.Principal.ID))
	}
	if caller != approver.UID {
		var groups []types.EntityUID
		for _, g := range rec.Principal.Groups {
			groups = append(groups, types.NewEntityUID(policy.TypeGroup, types.String(g)))
		}
		attrs := types.RecordMap{}
		if rec.Principal.Owner != "" {
			attrs["owner"] = types.NewEntityUID(policy.TypeUser, types.String(rec.Principal.Owner))
		}
		m[caller] = types.Entity{UID: caller, Parents: types.NewEntityUIDSet(groups...), Attributes: types.NewRecord(attrs)}
	}

	action := types.NewEntityUID(policy.TypeAction, types.String(a.Tool))
	var groups []types.EntityUID
	for _, g := range rec.ActionGroups {
		groups = append(groups, types.NewEntityUID(policy.TypeAction, types.String(g)))
	}
	m[action] = types.Entity{UID: action, Parents: types.NewEntityUIDSet(groups...), Attributes: types.NewRecord(nil)}

	server := types.NewEntityUID(policy.TypeServer, types.String(rec.Server.Name))
	trust := rec.Server.Trust
	if trust == "" {
		trust = "untrusted"
	}
	m[server] = types.Entity{UID: server, Attributes: types.NewRecord(types.RecordMap{
		"trust": types.String(trust), "labels": stringSet(rec.Server.Labels)})}

	input, err := cedarjson.FromJSON(rec.Arguments, "input", nil, s.o.Limits, true)
	if err != nil {
		return nil, err
	}
	task := types.RecordMap{"id": types.String(""), "purpose": types.String(""), "depth": types.Long(0)}
	if rec.Task != nil {
		task = types.RecordMap{"id": types.String(rec.Task.ID), "purpose": types.String(rec.Task.Purpose), "depth": types.Long(rec.Task.Depth)}
	}
	attrs := types.RecordMap{
		"tool":        types.String(a.Tool),
		"action":      action,
		"caller":      caller,
		"task":        types.NewRecord(task),
		"chain":       stringSet(rec.Chain),
		"policies":    stringSet(rec.Policies),
		"reasons":     stringSet(rec.Reasons),
		"input":       input,
		"args_sha256": types.String(a.ArgsSHA256),
		"created":     types.NewDatetime(a.CreatedAt),
		"expires":     types.NewDatetime(a.ExpiresAt),
	}
	if a.Owner != "" {
		attrs["owner"] = types.NewEntityUID(policy.TypeUser, types.String(a.Owner))
	}
	res := types.NewEntityUID(TypeApproval, types.String(a.ID))
	m[res] = types.Entity{UID: res, Parents: types.NewEntityUIDSet(server), Attributes: types.NewRecord(attrs)}
	return m, nil
}

func stringSet(ss []string) types.Set {
	vs := make([]types.Value, len(ss))
	for i, s := range ss {
		vs[i] = types.String(s)
	}
	return types.NewSet(vs...)
}

func decodeRecord(a *store.Approval) (*Record, error) {
	var r Record
	if err := json.Unmarshal(a.Call, &r); err != nil {
		return nil, errorf(CodeStore, "approval %s is damaged in the store: %v", a.ID, err)
	}
	return &r, nil
}
