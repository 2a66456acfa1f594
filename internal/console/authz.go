package console

import (
	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/toolgate/toolgate/internal/policy"
)

// The console's actions (docs/policy.md, "Administrative actions"). Each is
// decided by the organisation's policies with policy.Set.Authorize: only a
// permit that names the action grants it, so `permit (principal, action,
// resource)` written for tool calls grants nothing here. Answering an
// approval is Action::"Approve", decided per approval by the approval
// service, as on every other channel.
var (
	// ActionReadTrail: see live decisions, search, verify and export the
	// audit trail (resource Console::"trail").
	ActionReadTrail = types.NewEntityUID(policy.TypeAction, "ReadTrail")
	// ActionReadTasks: see the tasks (resource Console::"tasks").
	ActionReadTasks = types.NewEntityUID(policy.TypeAction, "ReadTasks")
	// ActionRevokeTask: revoke a task and what it delegated (resource
	// Task::"<id>", attributes agent, owner, purpose, root).
	ActionRevokeTask = types.NewEntityUID(policy.TypeAction, "RevokeTask")
	// ActionRevokeAgent: revoke every task of an agent (resource
	// Agent::"<id>").
	ActionRevokeAgent = types.NewEntityUID(policy.TypeAction, "RevokeAgent")
	// ActionReadPolicies: see the policies in force and decide requests
	// against them in the try-it panel (resource Console::"policies").
	ActionReadPolicies = types.NewEntityUID(policy.TypeAction, "ReadPolicies")
	// ActionReadTools: see the servers, their tools and pins (resource
	// Console::"tools").
	ActionReadTools = types.NewEntityUID(policy.TypeAction, "ReadTools")
	// ActionManagePins: accept or reject a changed tool definition
	// (resource Server::"<server>").
	ActionManagePins = types.NewEntityUID(policy.TypeAction, "ManagePins")
)

// TypeConsole is the entity type of the console's pages, TypeTask a task.
const (
	TypeConsole types.EntityType = "Console"
	TypeTask    types.EntityType = "Task"
)

// Console resources.
var (
	resTrail    = types.NewEntityUID(TypeConsole, "trail")
	resTasks    = types.NewEntityUID(TypeConsole, "tasks")
	resPolicies = types.NewEntityUID(TypeConsole, "policies")
	resTools    = types.NewEntityUID(TypeConsole, "tools")
)

// may tells whether the session's person may do action on resource (an
// entity of its own; extra are further entities the policies may read).
// The local operator may do everything. Any error refuses.
func (c *Console) may(s *session, action types.EntityUID, resource types.Entity, extra ...types.Entity) bool {
	if s == nil {
		return false
	}
	if s.Operator {
		return true
	}
	layers := c.o.Policies.Layers()
	if len(layers) == 0 || layers[0] == nil {
		return false
	}
	person, err := policy.PrincipalEntity(s.Principal, c.o.Limits)
	if err != nil {
		c.o.Log.Warn("console: the signed-in person cannot be made a Cedar entity; refused", "principal", s.Name(), "error", err)
		return false
	}
	entities := types.EntityMap{person.UID: person}
	for _, e := range append([]types.Entity{resource}, extra...) {
		if _, dup := entities[e.UID]; !dup {
			entities[e.UID] = e
		}
	}
	req := cedar.Request{
		Principal: person.UID, Action: action, Resource: resource.UID,
		Context: types.NewRecord(types.RecordMap{
			"system": types.NewRecord(types.RecordMap{"now": types.NewDatetime(c.o.Now())}),
		}),
	}
	ok, _ := layers[0].Authorize(req, entities)
	return ok
}

// mayPage is may on one of the console's pages.
func (c *Console) mayPage(s *session, action, page types.EntityUID) bool {
	return c.may(s, action, types.Entity{UID: page, Attributes: types.NewRecord(nil)})
}

// taskEntity is a task as the RevokeTask policies see it.
func taskEntity(id, agent, owner, purpose, root string) (types.Entity, []types.Entity) {
	attrs := types.RecordMap{
		"agent":   types.NewEntityUID(policy.TypeAgent, types.String(agent)),
		"purpose": types.String(purpose),
		"root":    types.String(root),
	}
	extra := []types.Entity{{UID: types.NewEntityUID(policy.TypeAgent, types.String(agent)), Attributes: types.NewRecord(nil)}}
	if owner != "" {
		attrs["owner"] = types.NewEntityUID(policy.TypeUser, types.String(owner))
	}
	return types.Entity{UID: types.NewEntityUID(TypeTask, types.String(id)), Attributes: types.NewRecord(attrs)}, extra
}
