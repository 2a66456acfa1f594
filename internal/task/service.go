package task

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store"
)

// Options are the parts a Service works with.
type Options struct {
	Tokens  *keys.Tokens
	Tasks   store.Tasks
	Budgets store.Budgets
	// Identity verifies actor tokens (delegation) and API callers; nil
	// accepts neither (the local operator can still do everything).
	Identity *identity.Verifier
	Now      func() time.Time
	Log      *slog.Logger
}

// Service is tasks: creation, delegation, revocation, and the pipeline's
// task and budget stages.
type Service struct {
	cfg Config
	o   Options

	mu       sync.Mutex
	verified map[string]*Claims     // verified tokens, by the raw token
	layers   map[string]*policy.Set // compiled scopes, by layer name and scope hash
}

// cacheSize bounds each cache; a full cache is emptied (simple, and a miss
// costs only a signature check or a compilation).
const cacheSize = 4096

// New builds a service. cfg gets its defaults applied.
func New(cfg Config, o Options) (*Service, error) {
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("tasks: %s", strings.Join(errs, "; "))
	}
	if o.Tokens == nil || o.Tasks == nil || o.Budgets == nil {
		return nil, errors.New("tasks: tokens, tasks and budgets are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, o: o, verified: map[string]*Claims{}, layers: map[string]*policy.Set{}}, nil
}

// Config is the service's configuration, defaults applied.
func (s *Service) Config() Config { return s.cfg }

// Caller is who asks the service to do something.
type Caller struct {
	Principal call.Principal
	// Local is the operator of this machine (`toolgate task` with the data
	// directory): whoever can read the signing keys may do anything.
	Local bool
	// Admin is a caller whose front door decided it may act as an admin
	// (the console, by its Cedar policy); it is named in records as itself.
	Admin bool
}

// String names the caller in records ("Agent::\"x\"", "local operator").
func (c Caller) String() string {
	if c.Local {
		return "local operator"
	}
	return principalName(c.Principal)
}

func principalName(p call.Principal) string {
	t := "Agent"
	if p.Kind == call.KindUser {
		t = "User"
	}
	return fmt.Sprintf("%s::%q", t, p.ID)
}

func (s *Service) isAdmin(c Caller) bool {
	if c.Local || c.Admin {
		return true
	}
	for _, g := range c.Principal.Groups {
		if slices.Contains(s.cfg.Admins, g) {
			return true
		}
	}
	return false
}

func errf(code, format string, args ...any) error { return call.Errorf(code, format, args...) }

// newID returns a time-ordered task id.
func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return "tsk_" + strings.ReplaceAll(id.String(), "-", ""), nil
}

// CreateRequest asks for a root task.
type CreateRequest struct {
	Agent   string   `json:"agent"`
	Owner   string   `json:"owner,omitempty"`
	Purpose string   `json:"purpose"`
	Scope   Scope    `json:"scope"`
	TTL     Duration `json:"ttl,omitempty"`
	Budget  *Budget  `json:"budget,omitempty"`
}

// Issued is a new task and its token.
type Issued struct {
	Task      *View     `json:"task"`
	Token     string    `json:"task_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

const maxPurposeLen = 2000

// Create makes a root task. Who may: an admin (or the local operator) for
// any agent and owner; a user for any agent, acting for that user; an agent
// for itself only, acting for its own owner. A task can only ever narrow
// what the organisation's policies allow its agent, so self-service is safe;
// what a task asserts (its purpose, its owner) is why the rule is not looser.
func (s *Service) Create(ctx context.Context, caller Caller, req CreateRequest) (*Issued, error) {
	if req.Agent == "" && !caller.Local && caller.Principal.Kind == call.KindAgent {
		req.Agent = caller.Principal.ID
	}
	switch {
	case s.isAdmin(caller):
	case caller.Principal.ID == "":
		return nil, errf(CodeForbidden, "creating a task needs an authenticated caller")
	case caller.Principal.Kind == call.KindUser:
		if req.Owner != "" && req.Owner != caller.Principal.ID {
			return nil, errf(CodeForbidden, "%s may create tasks only acting for itself, not for %q", caller, req.Owner)
		}
		req.Owner = caller.Principal.ID
	default:
		if req.Agent != caller.Principal.ID {
			return nil, errf(CodeForbidden, "%s may create tasks only for itself, not for agent %q", caller, req.Agent)
		}
		if req.Owner != "" && req.Owner != caller.Principal.Owner {
			return nil, errf(CodeForbidden, "%s acts for %q and may not create a task acting for %q", caller, caller.Principal.Owner, req.Owner)
		}
		req.Owner = caller.Principal.Owner
	}
	if req.Agent == "" {
		return nil, errf(CodeInvalid, "agent is required")
	}
	if err := checkPurpose(req.Purpose); err != nil {
		return nil, err
	}
	if err := req.Scope.Validate(); err != nil {
		return nil, errf(CodeScope, "%v", err)
	}
	if _, err := req.Scope.Compile("task", "scope"); err != nil {
		return nil, errf(CodeScope, "%v", err)
	}
	if err := req.Budget.validate(); err != nil {
		return nil, errf(CodeBudget, "%v", err)
	}
	ttl := time.Duration(req.TTL)
	if ttl == 0 {
		ttl = s.cfg.DefaultTTL
	}
	if ttl < time.Second || ttl > s.cfg.MaxTTL {
		return nil, errf(CodeTTL, "ttl %s is not between 1s and the maximum of %s", ttl, s.cfg.MaxTTL)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	now := s.o.Now().UTC().Truncate(time.Second)
	exp := now.Add(ttl)
	hop := Hop{ID: id, Agent: req.Agent, Purpose: req.Purpose, Scope: req.Scope, Budget: nilIfEmpty(req.Budget), Expiry: exp.Unix()}
	return s.issue(ctx, caller, nil, hop, req.Owner, now, exp)
}

func checkPurpose(p string) error {
	if strings.TrimSpace(p) == "" {
		return errf(CodeInvalid, "purpose is required: it is recorded with every call of the task")
	}
	if len(p) > maxPurposeLen {
		return errf(CodeInvalid, "purpose is longer than %d bytes", maxPurposeLen)
	}
	return nil
}

func nilIfEmpty(b *Budget) *Budget {
	if b.empty() {
		return nil
	}
	return b
}

// issue stores the task of hop (below the parent chain, if any) and signs
// its token.
func (s *Service) issue(ctx context.Context, caller Caller, parents []Hop, hop Hop, owner string, now, exp time.Time) (*Issued, error) {
	hops := append(slices.Clone(parents), hop)
	root := hops[0]
	scope, err := json.Marshal(hop.Scope)
	if err != nil {
		return nil, err
	}
	var budget []byte
	if hop.Budget != nil {
		if budget, err = json.Marshal(hop.Budget); err != nil {
			return nil, err
		}
	}
	rec := &store.Task{
		ID: hop.ID, RootID: root.ID, Depth: len(hops) - 1, Agent: hop.Agent, Owner: owner, Purpose: hop.Purpose,
		Scope: scope, Budget: budget, CreatedBy: caller.String(), CreatedAt: now, ExpiresAt: exp,
	}
	if len(parents) > 0 {
		rec.ParentID = parents[len(parents)-1].ID
	}
	if err := s.o.Tasks.CreateTask(ctx, rec); err != nil {
		return nil, errf(CodeStore, "the task cannot be stored: %v", err)
	}
	claims := Claims{
		Issuer: s.o.Tokens.Issuer(), Audience: Audience, Subject: root.Agent,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: exp.Unix(), ID: hop.ID,
		Act:  actFor(hops),
		Task: TaskClaim{ID: hop.ID, Purpose: hop.Purpose, Owner: owner, Depth: len(hops) - 1, Hops: hops},
	}
	tok, err := s.o.Tokens.Sign(ctx, TokenType, claims)
	if err != nil {
		return nil, errf(CodeStore, "the task token cannot be signed: %v", err)
	}
	s.o.Log.Info("task issued", "task_id", hop.ID, "root_id", root.ID, "depth", len(hops)-1, "agent", hop.Agent,
		"owner", owner, "purpose", hop.Purpose, "by", caller.String(), "expires", exp)
	return &Issued{Task: viewOf(rec, nil), Token: tok, ExpiresAt: exp}, nil
}

// DelegateRequest asks for a child task of the task whose token is
// SubjectToken, given to the agent that ActorToken identifies.
type DelegateRequest struct {
	SubjectToken string
	ActorToken   string
	// Agent names the sub-agent directly; only the local operator may.
	Agent string
	// Scope is the child's scope; nil keeps the parent's.
	Scope   *Scope
	Purpose string
	TTL     time.Duration
	Budget  *Budget
}

// Delegate makes a child task (RFC 8693 token exchange at /v1/token). The
// caller must be the parent token's current actor (or the local operator):
// holding a task token is not enough to hand it on. The child's scope must be
// within every hop's scope above it, its life within the parent's, its budget
// within every hop's remaining budget, and its depth within max_depth; each
// violation is an error naming the excess.
func (s *Service) Delegate(ctx context.Context, caller Caller, req DelegateRequest) (*Issued, error) {
	parent, err := ParseToken(ctx, s.o.Tokens, req.SubjectToken, s.cfg.MaxDepth)
	if err != nil {
		return nil, err
	}
	if err := s.checkLive(ctx, parent); err != nil {
		return nil, err
	}
	if !caller.Local && (caller.Principal.Kind != call.KindAgent || caller.Principal.ID != parent.Actor()) {
		return nil, errf(CodeForbidden, "only the task's agent %q may delegate it, not %s", parent.Actor(), caller)
	}
	agent := req.Agent
	switch {
	case req.ActorToken != "":
		if s.o.Identity == nil {
			return nil, errf(CodeInvalid, "actor tokens cannot be verified: no identity provider or API key is configured")
		}
		id, err := s.o.Identity.Verify(ctx, req.ActorToken)
		if err != nil {
			return nil, fmt.Errorf("actor token: %w", err)
		}
		if id.Principal.Kind != call.KindAgent {
			return nil, errf(CodeInvalid, "the actor token identifies %s; tasks are delegated to agents", principalName(id.Principal))
		}
		if agent != "" && agent != id.Principal.ID {
			return nil, errf(CodeInvalid, "the actor token identifies agent %q, not %q", id.Principal.ID, agent)
		}
		agent = id.Principal.ID
	case agent != "" && !caller.Local:
		return nil, errf(CodeInvalid, "the sub-agent must be identified by an actor token")
	case agent == "":
		return nil, errf(CodeInvalid, "the sub-agent is required (actor_token)")
	}
	depth := parent.Task.Depth + 1
	if depth > s.cfg.MaxDepth {
		return nil, errf(CodeDepth, "task %s is already %d hops deep; the maximum depth is %d", parent.ID, parent.Task.Depth, s.cfg.MaxDepth)
	}
	cur := parent.Current()
	scope := cur.Scope
	if req.Scope != nil {
		scope = *req.Scope
		if err := scope.Validate(); err != nil {
			return nil, errf(CodeScope, "%v", err)
		}
		if _, err := scope.Compile("hop", "scope"); err != nil {
			return nil, errf(CodeScope, "%v", err)
		}
		for i := len(parent.Task.Hops) - 1; i >= 0; i-- {
			h := &parent.Task.Hops[i]
			excess, err := Excess(&h.Scope, &scope)
			if err != nil {
				return nil, errf(CodeScope, "%v", err)
			}
			if len(excess) > 0 {
				return nil, errf(CodeWidened, "the requested scope is wider than task %s (agent %q) allows: %s", h.ID, h.Agent, strings.Join(excess, "; "))
			}
		}
	}
	now := s.o.Now().UTC().Truncate(time.Second)
	parentExp := time.Unix(parent.Expiry, 0).UTC()
	exp := parentExp
	if req.TTL != 0 {
		exp = now.Add(req.TTL)
		if req.TTL < time.Second || exp.After(parentExp) {
			return nil, errf(CodeTTL, "ttl %s would outlive the parent task, which expires at %s (in %s)", req.TTL, parentExp.Format(time.RFC3339), parentExp.Sub(now))
		}
	}
	if err := req.Budget.validate(); err != nil {
		return nil, errf(CodeBudget, "%v", err)
	}
	if err := s.checkBudgetWithin(ctx, parent.Task.Hops, req.Budget); err != nil {
		return nil, err
	}
	purpose := req.Purpose
	if purpose == "" {
		purpose = cur.Purpose
	}
	if err := checkPurpose(purpose); err != nil {
		return nil, err
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	hop := Hop{ID: id, Agent: agent, Purpose: purpose, Scope: scope, Budget: nilIfEmpty(req.Budget), Expiry: exp.Unix()}
	return s.issue(ctx, caller, parent.Task.Hops, hop, parent.Task.Owner, now, exp)
}

// checkBudgetWithin refuses a child budget larger than what any hop above
// has left: a budget can only shrink.
func (s *Service) checkBudgetWithin(ctx context.Context, hops []Hop, b *Budget) error {
	if b.empty() {
		return nil
	}
	for _, h := range hops {
		if h.Budget.empty() {
			continue
		}
		spent, err := s.o.Budgets.BudgetSpent(ctx, h.ID)
		if err != nil {
			return errf(CodeStore, "the budget of task %s cannot be read: %v", h.ID, err)
		}
		// A limit the child does not set is no limit at its hop; the
		// hops above still bound it, since every call spends from them.
		if h.Budget.Total > 0 {
			left := h.Budget.Total - spent[""]
			if b.Total > left {
				return errf(CodeBudget, "the requested total budget of %d calls is more than task %s has left (%d)", b.Total, h.ID, left)
			}
			for tool, n := range b.PerTool {
				if n > left {
					return errf(CodeBudget, "the requested budget of %d calls of %s is more than task %s has left in all (%d)", n, tool, h.ID, left)
				}
			}
		}
		for tool, max := range h.Budget.PerTool {
			left := max - spent[tool]
			if n := b.PerTool[tool]; n > left {
				return errf(CodeBudget, "the requested budget of %d calls of %s is more than task %s has left for it (%d)", n, tool, h.ID, left)
			}
		}
	}
	return nil
}

// checkLive fails if any hop of the token's chain is unknown or revoked.
func (s *Service) checkLive(ctx context.Context, c *Claims) error {
	ids := make([]string, len(c.Task.Hops))
	for i, h := range c.Task.Hops {
		ids[i] = h.ID
	}
	states, err := s.o.Tasks.TaskStates(ctx, ids)
	if err != nil {
		return errf(CodeStore, "whether task %s was revoked cannot be checked, so it is refused: %v", c.ID, err)
	}
	for i, h := range c.Task.Hops {
		st, ok := states[h.ID]
		if !ok {
			return errf(CodeUnknown, "task %s is not known to this toolgate (its token is signed, but the task is not in the store)", h.ID)
		}
		if !st.Revoked {
			continue
		}
		reason := ""
		if st.RevokeReason != "" {
			reason = ": " + st.RevokeReason
		}
		if i == len(c.Task.Hops)-1 {
			return errf(CodeRevoked, "task %s was revoked at %s%s", h.ID, st.RevokedAt.Format(time.RFC3339), reason)
		}
		return errf(CodeRevoked, "task %s is revoked: task %s above it (agent %q) was revoked at %s%s", c.ID, h.ID, h.Agent, st.RevokedAt.Format(time.RFC3339), reason)
	}
	return nil
}

// ResolveTask implements enforce.TaskResolver: it verifies the call's task
// token, checks that no hop of its chain is revoked, binds it to the caller,
// fills c.Task and c.Chain, and returns one policy layer per hop, the root
// task's first ("task:<id>", then "hop1:<id>", …). Every error denies.
func (s *Service) ResolveTask(ctx context.Context, c *call.Call) ([]*policy.Set, error) {
	if c.TaskToken == "" {
		return nil, nil // a call that serves no task (or states one, as AuthZEN may)
	}
	claims, err := s.verify(ctx, c.TaskToken)
	if err != nil {
		return nil, err
	}
	// The task is known from here on, so even a deny below is recorded
	// with its task, purpose and chain.
	c.Task = &call.Task{ID: claims.ID, Purpose: claims.Task.Purpose, Depth: claims.Task.Depth}
	if len(claims.Task.Hops) > 0 {
		c.Task.Root = claims.Task.Hops[0].ID
	}
	c.Chain = claims.Chain()
	if c.Principal.Kind != call.KindAgent || c.Principal.ID != claims.Actor() {
		return nil, errf(CodeWrongAgent, "task token of task %s was issued to Agent::%q, but the call is made by %s", claims.ID, claims.Actor(), principalName(c.Principal))
	}
	if o := claims.Task.Owner; o != "" {
		switch c.Principal.Owner {
		case "":
			c.Principal.Owner = o
		case o:
		default:
			return nil, errf(CodeOwnerMismatch, "task %s acts for %q, but the caller acts for %q", claims.ID, o, c.Principal.Owner)
		}
	}
	if err := s.checkLive(ctx, claims); err != nil {
		return nil, err
	}
	layers := make([]*policy.Set, len(claims.Task.Hops))
	for i := range claims.Task.Hops {
		set, err := s.layer(i, &claims.Task.Hops[i])
		if err != nil {
			return nil, err
		}
		layers[i] = set
	}
	return layers, nil
}

// verify parses a task token, from the cache when it was verified before
// (its times are checked again every time).
func (s *Service) verify(ctx context.Context, raw string) (*Claims, error) {
	s.mu.Lock()
	c, ok := s.verified[raw]
	s.mu.Unlock()
	if ok {
		now := s.o.Now()
		if now.Before(time.Unix(c.Expiry, 0)) {
			return c, nil
		}
		s.mu.Lock()
		delete(s.verified, raw)
		s.mu.Unlock()
	}
	c, err := ParseToken(ctx, s.o.Tokens, raw, s.cfg.MaxDepth)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.verified) >= cacheSize {
		clear(s.verified)
	}
	s.verified[raw] = c
	s.mu.Unlock()
	return c, nil
}

// layer compiles a hop's scope into its policy layer (cached: a task's
// scope never changes).
func (s *Service) layer(i int, h *Hop) (*policy.Set, error) {
	name := "task:" + h.ID
	if i > 0 {
		name = fmt.Sprintf("hop%d:%s", i, h.ID)
	}
	b, _ := json.Marshal(h.Scope)
	sum := sha256.Sum256(b)
	key := name + "\x00" + hex.EncodeToString(sum[:])
	s.mu.Lock()
	set, ok := s.layers[key]
	s.mu.Unlock()
	if ok {
		return set, nil
	}
	set, err := h.Scope.Compile(name, "scope of task "+h.ID)
	if err != nil {
		return nil, errf(CodeScope, "the scope of task %s does not compile: %v", h.ID, err)
	}
	s.mu.Lock()
	if len(s.layers) >= cacheSize {
		clear(s.layers)
	}
	s.layers[key] = set
	s.mu.Unlock()
	return set, nil
}

// Spend implements enforce.Budget: one unit from the total and the tool's
// budget of every hop of the call's chain that has one, atomically. The
// refund gives the same units back, atomically too.
func (s *Service) Spend(ctx context.Context, c *call.Call) (refund func(context.Context) error, err error) {
	if c.TaskToken == "" {
		return nil, nil
	}
	claims, err := s.verify(ctx, c.TaskToken)
	if err != nil {
		return nil, err
	}
	action := c.Action()
	var charges []store.BudgetCharge
	for _, h := range claims.Task.Hops {
		if h.Budget == nil {
			continue
		}
		if h.Budget.Total > 0 {
			charges = append(charges, store.BudgetCharge{TaskID: h.ID, Limit: h.Budget.Total})
		}
		if n := h.Budget.PerTool[action]; n > 0 {
			charges = append(charges, store.BudgetCharge{TaskID: h.ID, Key: action, Limit: n})
		}
	}
	if len(charges) == 0 {
		return nil, nil
	}
	err = s.o.Budgets.SpendBudget(ctx, charges)
	var be *store.BudgetExhaustedError
	switch {
	case err == nil:
		return func(ctx context.Context) error { return s.o.Budgets.RefundBudget(ctx, charges) }, nil
	case errors.As(err, &be):
		what := "calls"
		if be.Charge.Key != "" {
			what = "calls of " + be.Charge.Key
		}
		return nil, errf(CodeBudgetExhausted, "the budget of task %s is used up: %d of %d %s made", be.Charge.TaskID, be.Spent, be.Charge.Limit, what)
	default:
		return nil, errf(CodeStore, "the budget of task %s cannot be spent, so the call is denied: %v", claims.ID, err)
	}
}

// Revoke revokes a task and everything below it. Who may: an admin (or the
// local operator), the human the task acts for, and any agent on the task's
// chain (an agent may revoke its own task and what it delegated).
func (s *Service) Revoke(ctx context.Context, caller Caller, id, reason string) ([]string, error) {
	t, err := s.o.Tasks.Task(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errf(CodeNotFound, "there is no task %s", id)
	}
	if err != nil {
		return nil, errf(CodeStore, "task %s cannot be read: %v", id, err)
	}
	if !s.isAdmin(caller) {
		ok, err := s.onChain(ctx, t, caller.Principal)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errf(CodeForbidden, "%s may not revoke task %s: only its owner, an agent on its chain or an admin may", caller, id)
		}
	}
	ids, err := s.o.Tasks.RevokeTask(ctx, id, caller.String(), reason, s.o.Now().UTC())
	if err != nil {
		return nil, errf(CodeStore, "task %s cannot be revoked: %v", id, err)
	}
	s.o.Log.Info("task revoked", "task_id", id, "revoked", ids, "by", caller.String(), "reason", reason)
	return ids, nil
}

// onChain tells whether p owns t or is the agent of t or of a task above it.
func (s *Service) onChain(ctx context.Context, t *store.Task, p call.Principal) (bool, error) {
	if p.ID == "" {
		return false, nil
	}
	if p.Kind == call.KindUser {
		return t.Owner == p.ID, nil
	}
	for cur, n := t, 0; cur != nil && n <= hardMaxDepth; n++ {
		if cur.Agent == p.ID {
			return true, nil
		}
		if cur.ParentID == "" {
			break
		}
		next, err := s.o.Tasks.Task(ctx, cur.ParentID)
		if err != nil {
			return false, errf(CodeStore, "task %s cannot be read: %v", cur.ParentID, err)
		}
		cur = next
	}
	return false, nil
}

// RevokeAgent revokes every task given to an agent and everything below
// them (a compromised agent). Only an admin or the local operator may.
func (s *Service) RevokeAgent(ctx context.Context, caller Caller, agent, reason string) ([]string, error) {
	if !s.isAdmin(caller) {
		return nil, errf(CodeForbidden, "%s may not revoke an agent's tasks: only an admin may", caller)
	}
	ids, err := s.o.Tasks.RevokeAgentTasks(ctx, agent, caller.String(), reason, s.o.Now().UTC())
	if err != nil {
		return nil, errf(CodeStore, "the tasks of agent %q cannot be revoked: %v", agent, err)
	}
	s.o.Log.Info("agent's tasks revoked", "agent", agent, "revoked", ids, "by", caller.String(), "reason", reason)
	return ids, nil
}

// List returns the tasks the caller may see, roots before their
// descendants: all for an admin (or the local operator), those acting for a
// user, and for an agent its own tasks and what is below them.
func (s *Service) List(ctx context.Context, caller Caller, f store.TaskFilter) ([]*View, error) {
	admin := s.isAdmin(caller)
	if !admin && caller.Principal.ID == "" {
		return nil, errf(CodeForbidden, "listing tasks needs an authenticated caller")
	}
	if !admin && caller.Principal.Kind == call.KindUser {
		f.Owner = caller.Principal.ID
	}
	f.Now = s.o.Now()
	ts, err := s.o.Tasks.Tasks(ctx, f)
	if err != nil {
		return nil, errf(CodeStore, "tasks cannot be listed: %v", err)
	}
	if !admin && caller.Principal.Kind != call.KindUser {
		// An agent sees the subtrees below its own tasks.
		mine := map[string]bool{}
		var kept []*store.Task
		for _, t := range ts { // parents come before children
			if t.Agent == caller.Principal.ID || mine[t.ParentID] {
				mine[t.ID] = true
				kept = append(kept, t)
			}
		}
		ts = kept
	}
	out := make([]*View, 0, len(ts))
	for _, t := range ts {
		var spent map[string]int64
		if len(t.Budget) > 0 {
			if spent, err = s.o.Budgets.BudgetSpent(ctx, t.ID); err != nil {
				return nil, errf(CodeStore, "the budget of task %s cannot be read: %v", t.ID, err)
			}
		}
		out = append(out, viewOf(t, spent))
	}
	return out, nil
}

// View is a task as the API and the CLI show it.
type View struct {
	ID        string           `json:"id"`
	ParentID  string           `json:"parent_id,omitempty"`
	RootID    string           `json:"root_id"`
	Depth     int              `json:"depth"`
	Agent     string           `json:"agent"`
	Owner     string           `json:"owner,omitempty"`
	Purpose   string           `json:"purpose"`
	Scope     json.RawMessage  `json:"scope"`
	Budget    json.RawMessage  `json:"budget,omitempty"`
	Spent     map[string]int64 `json:"spent,omitempty"`
	CreatedBy string           `json:"created_by"`
	CreatedAt time.Time        `json:"created_at"`
	ExpiresAt time.Time        `json:"expires_at"`
	Revoked   *Revocation      `json:"revoked,omitempty"`
}

// Revocation says when and why a task was revoked.
type Revocation struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	// Via is the task (or "agent:<id>") whose revocation revoked this one.
	Via string `json:"via"`
}

func viewOf(t *store.Task, spent map[string]int64) *View {
	v := &View{
		ID: t.ID, ParentID: t.ParentID, RootID: t.RootID, Depth: t.Depth, Agent: t.Agent, Owner: t.Owner,
		Purpose: t.Purpose, Scope: t.Scope, Spent: spent, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
	}
	if len(t.Budget) > 0 {
		v.Budget = t.Budget
	}
	if t.Revoked() {
		v.Revoked = &Revocation{At: t.RevokedAt, By: t.RevokedBy, Reason: t.RevokeReason, Via: t.RevokedVia}
	}
	return v
}

// Duration is a time.Duration in JSON: "90m", "1h30m", or a number of
// seconds.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("ttl: %v", err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New(`ttl: a duration ("1h") or a number of seconds`)
	}
	*d = Duration(time.Duration(n) * time.Second)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
