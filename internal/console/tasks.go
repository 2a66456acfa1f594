package console

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/task"
)

// taskRow is a task in the tree.
type taskRow struct {
	*task.View
	Budget  []budgetLine
	Expired bool
	Revoke  bool // the person may revoke it
}

type budgetLine struct {
	What               string
	Limit, Spent, Left int64
}

func budgetOf(v *task.View) []budgetLine {
	if len(v.Budget) == 0 {
		return nil
	}
	var b task.Budget
	if json.Unmarshal(v.Budget, &b) != nil {
		return nil
	}
	var out []budgetLine
	line := func(what, key string, limit int64) {
		spent := v.Spent[key]
		out = append(out, budgetLine{What: what, Limit: limit, Spent: spent, Left: max(limit-spent, 0)})
	}
	if b.Total > 0 {
		line("calls", "", b.Total)
	}
	keys := make([]string, 0, len(b.PerTool))
	for k := range b.PerTool {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line(k, k, b.PerTool[k])
	}
	return out
}

type tasksData struct {
	Tasks       []taskRow
	Agents      []string
	RevokeAgent map[string]bool
	All         bool
}

// operatorCaller lists and revokes as the console: what the person may
// see or do was decided by Cedar before.
var operatorCaller = task.Caller{Local: true}

func (c *Console) tasksAllowed(w http.ResponseWriter, r *http.Request, s *session) bool {
	if c.o.Tasks == nil {
		c.fail(w, r, s, http.StatusNotFound, CodeNotFound, "tasks are not available here")
		return false
	}
	if !c.mayPage(s, ActionReadTasks, resTasks) {
		c.fail(w, r, s, http.StatusForbidden, CodeForbidden, s.Name()+" may not see tasks (Action::\"ReadTasks\")")
		return false
	}
	return true
}

func (c *Console) tasksPage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.tasksAllowed(w, r, s) {
		return
	}
	all := r.URL.Query().Get("all") == "1"
	views, err := c.o.Tasks.List(r.Context(), operatorCaller, store.TaskFilter{Live: !all})
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, err.Error())
		return
	}
	now := c.o.Now()
	d := tasksData{All: all, RevokeAgent: map[string]bool{}}
	seen := map[string]bool{}
	for _, v := range views {
		res, extra := taskEntity(v.ID, v.Agent, v.Owner, v.Purpose, v.RootID)
		d.Tasks = append(d.Tasks, taskRow{View: v, Budget: budgetOf(v), Expired: !now.Before(v.ExpiresAt),
			Revoke: v.Revoked == nil && c.may(s, ActionRevokeTask, res, extra...)})
		if !seen[v.Agent] {
			seen[v.Agent] = true
			d.Agents = append(d.Agents, v.Agent)
			d.RevokeAgent[v.Agent] = c.may(s, ActionRevokeAgent, agentEntity(v.Agent))
		}
	}
	sort.Strings(d.Agents)
	c.render(w, http.StatusOK, "tasks", s, view{Title: "Tasks", Nav: "tasks", Flash: r.URL.Query().Get("done"), Data: d})
}

func agentEntity(id string) types.Entity {
	return types.Entity{UID: types.NewEntityUID(policy.TypeAgent, types.String(id)), Attributes: types.NewRecord(nil)}
}

// findTask returns a task and its subtree (what a revocation ends).
func (c *Console) findTask(r *http.Request, id string) (*task.View, []*task.View, error) {
	views, err := c.o.Tasks.List(r.Context(), operatorCaller, store.TaskFilter{})
	if err != nil {
		return nil, nil, err
	}
	var t *task.View
	below := map[string]bool{}
	var sub []*task.View
	for _, v := range views { // parents before children
		if v.ID == id {
			t = v
			below[v.ID] = true
			continue
		}
		if below[v.ParentID] {
			below[v.ID] = true
			sub = append(sub, v)
		}
	}
	return t, sub, nil
}

type revokeData struct {
	Task  *task.View
	Below []*task.View
	Agent string
	Tasks int
}

// revocable finds the task of the request's path and checks that the
// signed-in person may revoke it; otherwise it answers the request itself.
func (c *Console) revocable(w http.ResponseWriter, r *http.Request, s *session) (*task.View, []*task.View, bool) {
	if !c.tasksAllowed(w, r, s) {
		return nil, nil, false
	}
	t, sub, err := c.findTask(r, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, err.Error())
		return nil, nil, false
	}
	if t == nil {
		c.fail(w, r, s, http.StatusNotFound, CodeNotFound, "there is no task "+r.PathValue("id"))
		return nil, nil, false
	}
	res, extra := taskEntity(t.ID, t.Agent, t.Owner, t.Purpose, t.RootID)
	if !c.may(s, ActionRevokeTask, res, extra...) {
		c.fail(w, r, s, http.StatusForbidden, CodeForbidden, s.Name()+" may not revoke task "+t.ID+" (Action::\"RevokeTask\")")
		return nil, nil, false
	}
	return t, sub, true
}

// revokeTaskPage is the confirmation step: what will be revoked, and a
// reason.
func (c *Console) revokeTaskPage(w http.ResponseWriter, r *http.Request, s *session) {
	t, sub, ok := c.revocable(w, r, s)
	if !ok {
		return
	}
	c.render(w, http.StatusOK, "revoke", s, view{Title: "Revoke task " + t.ID, Nav: "tasks", Data: revokeData{Task: t, Below: sub}})
}

func (c *Console) revokeTask(w http.ResponseWriter, r *http.Request, s *session) {
	t, _, ok := c.revocable(w, r, s)
	if !ok {
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		c.fail(w, r, s, http.StatusBadRequest, CodeInvalid, "a revocation needs its confirmation")
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	ids, err := c.o.Tasks.Revoke(r.Context(), c.taskCaller(s), t.ID, reason)
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, codeOf(err), err.Error())
		return
	}
	http.Redirect(w, r, "/console/tasks?all=1&done=revoked+"+strings.Join(ids, ","), http.StatusSeeOther)
}

// taskCaller is the person as the task service records them: allowed as an
// admin, since Cedar said so.
func (c *Console) taskCaller(s *session) task.Caller {
	if s.Operator {
		return task.Caller{Local: true}
	}
	return task.Caller{Principal: s.Principal, Admin: true}
}

func (c *Console) revokeAgentPage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.tasksAllowed(w, r, s) {
		return
	}
	agent := r.PathValue("id")
	if !c.may(s, ActionRevokeAgent, agentEntity(agent)) {
		c.fail(w, r, s, http.StatusForbidden, CodeForbidden, s.Name()+" may not revoke the tasks of agent "+agent+" (Action::\"RevokeAgent\")")
		return
	}
	views, err := c.o.Tasks.List(r.Context(), operatorCaller, store.TaskFilter{Agent: agent, Live: true})
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, err.Error())
		return
	}
	c.render(w, http.StatusOK, "revoke", s, view{Title: "Revoke agent " + agent, Nav: "tasks", Data: revokeData{Agent: agent, Tasks: len(views)}})
}

func (c *Console) revokeAgent(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.tasksAllowed(w, r, s) {
		return
	}
	agent := r.PathValue("id")
	if !c.may(s, ActionRevokeAgent, agentEntity(agent)) {
		c.fail(w, r, s, http.StatusForbidden, CodeForbidden, s.Name()+" may not revoke the tasks of agent "+agent+" (Action::\"RevokeAgent\")")
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		c.fail(w, r, s, http.StatusBadRequest, CodeInvalid, "a revocation needs its confirmation")
		return
	}
	ids, err := c.o.Tasks.RevokeAgent(r.Context(), c.taskCaller(s), agent, strings.TrimSpace(r.PostForm.Get("reason")))
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, codeOf(err), err.Error())
		return
	}
	http.Redirect(w, r, "/console/tasks?all=1&done=revoked+"+strings.Join(ids, ","), http.StatusSeeOther)
}
