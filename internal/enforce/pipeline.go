// Package enforce is the enforcement pipeline (docs/design.md, "The pipeline"): every front door
// (stdio proxy, HTTP gateway, AuthZEN API, Go library) judges a tool call by
// calling Decide or Execute here. The stages run in one order, top to bottom,
// in this file; each is a small interface implemented in its own package.
//
// The pipeline fails closed: an error in any stage denies the call with a
// reason, and a call is forwarded only after its decision record is durable.
package enforce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/policy"
)

// Stage names, as they appear in decisions and the audit trail.
const (
	StageDescribe   = "describe"
	StageIdentify   = "identify"
	StageTask       = "task"
	StageFacts      = "facts"
	StageHistory    = "history"
	StageDecide     = "decide"
	StageApprove    = "approve"
	StageCredential = "credential"
	StageAudit      = "audit"
)

// Catalog fills in what toolgate knows about the call's server and tool
// (trust, labels, pinned annotations, input schema) and returns the shape
// that number conversion follows (nil when the schema is unknown).
type Catalog interface {
	Describe(ctx context.Context, c *call.Call) (*cedarjson.Shape, error)
}

// Identifier establishes who makes the call (c.Principal, c.Chain).
type Identifier interface {
	Identify(ctx context.Context, c *call.Call) error
}

// TaskResolver establishes which task the call serves (c.Task) and returns
// the task's scope and each delegation hop's scope as extra policy layers.
type TaskResolver interface {
	ResolveTask(ctx context.Context, c *call.Call) ([]*policy.Set, error)
}

// FactFinder computes what the arguments mean (c.Facts).
type FactFinder interface {
	FindFacts(ctx context.Context, c *call.Call) error
}

// History supplies what happened before in the task (c.Flow) and learns from
// each forwarded call's outcome.
type History interface {
	Recall(ctx context.Context, c *call.Call) error
	Observe(ctx context.Context, c *call.Call, o *call.Outcome) error
}

// OutputObserver is implemented by a History that learns from content a
// server sends outside tool results (resources, prompts, task results):
// untrusted content read that way taints later calls as a tool's output
// does. ObserveOutput returns once the history is durable; on an error the
// content must not reach the client.
type OutputObserver interface {
	ObserveOutput(ctx context.Context, c *call.Call, content []byte) error
}

// Admitter is implemented by a History that must know a call will be
// forwarded before it is: to count calls while they run, and to make later
// calls of the task wait for an output the agent may see before Observe
// runs.
// Execute calls Admit for an allowed call after its decision record is
// durable and just before forwarding it; Observe follows for every such
// call. Admit cannot stop the call; a failure makes the history fail later
// calls closed.
type Admitter interface {
	Admit(ctx context.Context, c *call.Call)
}

// Reserver is an Admitter that holds a call's place in the history's
// windows from the moment it is judged, so that a window's limit cannot be
// passed by calls sent side by side: each call of a task is judged with the
// calls judged before it counted. Execute judges with Reserve instead of
// Recall, and releases a call it does not forward (denied, not approved,
// its budget, credential or decision record failed); Decide, which
// forwards nothing, uses Recall.
type Reserver interface {
	Admitter
	Reserve(ctx context.Context, c *call.Call) error
	Release(ctx context.Context, c *call.Call)
}

// Budget spends one unit of the task's budget for a call about to be
// allowed; an error (budget exhausted, store down) denies it. The spend is
// made before the credential is minted and the decision recorded; if either
// fails, or the call ends before it is forwarded, the pipeline calls refund
// (nil when nothing was spent), so budgets are spent only by calls that run.
type Budget interface {
	Spend(ctx context.Context, c *call.Call) (refund func(context.Context) error, err error)
}

// Approver settles an "ask": it returns the decision after a human has
// approved or denied the exact call (or the wait timed out).
type Approver interface {
	Await(ctx context.Context, c *call.Call, d call.Decision) (call.Decision, error)
}

// Settler is an Approver that can also settle an ask without waiting, for
// Decide (the AuthZEN API answers at once): allow only if a human has
// already approved this exact call (each approval once), deny if a human
// denied it, else the ask as it is (with the pending approval named in a
// reason, so the caller can ask again once a human has answered).
type Settler interface {
	Settle(ctx context.Context, c *call.Call, d call.Decision) (call.Decision, error)
}

// Minter mints the per-call credential for an allowed call.
type Minter interface {
	Mint(ctx context.Context, c *call.Call, d *call.Decision) (*call.Credential, error)
}

// Policies returns the configured layers in force, the organisation layer
// first (policy.Engine).
type Policies interface {
	Layers() []*policy.Set
}

// Config holds the pipeline's stages. Policies is required; Audit is
// required for Execute. Every other stage defaults to a pass-through that
// cannot allow anything the policies do not.
type Config struct {
	Catalog  Catalog
	Identify Identifier
	Task     TaskResolver
	Facts    FactFinder
	History  History
	Policies Policies
	Budget   Budget
	Approve  Approver
	Mint     Minter
	Audit    audit.Sink
	Limits   cedarjson.Limits
	Log      *slog.Logger
	// RecordTimeout bounds each write of a record (decision, outcome) and
	// each refund. Records are written on a context the call's end cannot
	// cancel: a client that cancels, a request that times out or a server
	// that dies must not lose the record of a call that was judged.
	// Default 10s.
	RecordTimeout time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// DefaultRecordTimeout is Config.RecordTimeout's default.
const DefaultRecordTimeout = 10 * time.Second

// Pipeline judges calls.
type Pipeline struct{ cfg Config }

// New checks the config and fills in the pass-through stages.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Policies == nil {
		return nil, errors.New("enforce: no policies")
	}
	if cfg.Catalog == nil {
		cfg.Catalog = noCatalog{}
	}
	if cfg.Identify == nil {
		cfg.Identify = AsGiven{}
	}
	if cfg.Task == nil {
		cfg.Task = NoTasks{}
	}
	if cfg.Facts == nil {
		cfg.Facts = noFacts{}
	}
	if cfg.History == nil {
		cfg.History = noHistory{}
	}
	if cfg.Approve == nil {
		cfg.Approve = NoApprover{}
	}
	if cfg.Limits == (cedarjson.Limits{}) {
		cfg.Limits = cedarjson.DefaultLimits()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RecordTimeout <= 0 {
		cfg.RecordTimeout = DefaultRecordTimeout
	}
	return &Pipeline{cfg: cfg}, nil
}

// Decide judges a call without running it (AuthZEN, `toolgate check`). An
// "ask" is settled by an approver that can do so without waiting (Settler);
// otherwise it is returned as is: the caller enforces it. With an audit sink the
// decision is recorded, and a failure to record it denies.
func (p *Pipeline) Decide(ctx context.Context, c *call.Call) call.Decision {
	d := p.judge(ctx, c, false)
	if s, ok := p.cfg.Approve.(Settler); ok && d.Effect == call.Ask {
		settled, err := s.Settle(ctx, c, d)
		switch {
		case err != nil:
			d = deny(c, StageApprove, codeOf(err, "approval.failed"), "the call needs approval and the approval failed: "+err.Error())
		default:
			d = settled
			if d.Effect != call.Allow && d.Effect != call.Ask {
				d.Effect = call.Deny
			}
		}
	}
	var refund func(context.Context) error
	if d.Effect == call.Allow {
		d, refund = p.spend(ctx, c, d)
	}
	if p.cfg.Audit != nil {
		rctx, cancel := p.recordContext(ctx)
		defer cancel()
		if err := p.cfg.Audit.WriteDecision(rctx, audit.NewRecord(c, &d, nil)); err != nil {
			p.refund(rctx, c, refund)
			return p.auditFailed(c, err)
		}
	}
	return d
}

// DryRun judges a call as Decide would, with no side effect: no approval
// is opened or used, no budget spent, nothing recorded (the console's
// try-it panel). An "ask" stays an ask.
func (p *Pipeline) DryRun(ctx context.Context, c *call.Call) call.Decision {
	return p.judge(ctx, c, false)
}

// recordContext is the context records are written on: it keeps the
// call's values (trace, logger) but not its end, and is bounded by
// RecordTimeout.
func (p *Pipeline) recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), p.cfg.RecordTimeout)
}

// ObserveContent lets the history learn from content a server sends the
// client outside a tool result (c names the server, and the tool when one
// stands for the content). The caller is identified and the task resolved
// as for a call, so that the content lands in the right history. An error
// means the content must be withheld (fail closed).
func (p *Pipeline) ObserveContent(ctx context.Context, c *call.Call, content []byte) error {
	o, ok := p.cfg.History.(OutputObserver)
	if !ok {
		return nil
	}
	if c.Time.IsZero() {
		c.Time = p.cfg.Now()
	}
	if _, err := p.cfg.Catalog.Describe(ctx, c); err != nil {
		return err
	}
	if err := p.cfg.Identify.Identify(ctx, c); err != nil {
		return err
	}
	if _, err := p.cfg.Task.ResolveTask(ctx, c); err != nil {
		return err
	}
	return o.ObserveOutput(ctx, c, content)
}

// Refuse records a call that a front door refuses before judging it (a
// tools/call sent as a notification, which no answer could deny): a deny
// decision with the given code, in the audit trail like any other. The
// caller is identified when possible, so the record says who tried.
func (p *Pipeline) Refuse(ctx context.Context, c *call.Call, code, msg string) call.Decision {
	c.ID = newID()
	if c.Time.IsZero() {
		c.Time = p.cfg.Now()
	}
	if err := p.cfg.Identify.Identify(ctx, c); err != nil {
		msg += "; the caller is not identified: " + err.Error()
	}
	d := deny(c, StageDescribe, code, msg)
	if p.cfg.Audit == nil {
		return d
	}
	rctx, cancel := p.recordContext(ctx)
	defer cancel()
	if err := p.cfg.Audit.WriteDecision(rctx, audit.NewRecord(c, &d, nil)); err != nil {
		return p.auditFailed(c, err)
	}
	return d
}

// Forward sends an allowed call upstream with its per-call credential (nil
// when no minter is configured) and reports how it ended.
type Forward func(ctx context.Context, c *call.Call, cred *call.Credential) call.Outcome

// Execute judges a call and, if it is allowed, forwards it: approve → mint →
// write the decision record (durable) → forward → append the outcome → learn.
// The returned decision says whether fwd ran: it ran if and only if the
// effect is allow.
func (p *Pipeline) Execute(ctx context.Context, c *call.Call, fwd Forward) call.Decision {
	forwarded := false
	if r, ok := p.cfg.History.(Reserver); ok {
		defer func() {
			if !forwarded {
				r.Release(ctx, c)
			}
		}()
	}
	d := p.judge(ctx, c, true)
	// No call may run unrecorded: without a sink, deny before a human is
	// asked, a budget spent or a credential minted for nothing.
	if p.cfg.Audit == nil {
		return deny(c, StageAudit, "audit.none", "no audit sink is configured, so no call may run")
	}

	// 6. approve: an ask becomes allow only through a human's approval.
	if d.Effect == call.Ask {
		approved, err := p.cfg.Approve.Await(ctx, c, d)
		switch {
		case err != nil:
			d = deny(c, StageApprove, codeOf(err, "approval.failed"), "the call needs approval and the approval failed: "+err.Error())
		case approved.Effect != call.Allow:
			d = approved
			d.Effect = call.Deny
		default:
			d = approved
			// The task may have been revoked while its call waited for a
			// person (on any replica): an answer does not serve a revoked
			// task, so its state is read again.
			if c.TaskToken != "" {
				if _, err := p.cfg.Task.ResolveTask(ctx, c); err != nil {
					d = deny(c, StageTask, codeOf(err, "task.failed"), err.Error())
				}
			}
		}
	}

	// The task's budget is spent only by calls that will run: a unit spent
	// here is given back if the call does not run after all.
	var refund func(context.Context) error
	if d.Effect == call.Allow {
		d, refund = p.spend(ctx, c, d)
	}

	// 7. credential: only for allowed calls; failing to mint denies.
	var cred *call.Credential
	if d.Effect == call.Allow && p.cfg.Mint != nil {
		var err error
		cred, err = p.cfg.Mint.Mint(ctx, c, &d)
		if err != nil {
			d = deny(c, StageCredential, codeOf(err, "credential.mint_failed"), "could not mint the per-call credential: "+err.Error())
		}
	}

	// From here on the call's records are written on a context its end
	// cannot cancel: once judged, a call keeps its records.
	rctx, cancel := p.recordContext(ctx)
	defer cancel()
	if d.Effect != call.Allow {
		p.refund(rctx, c, refund)
	}

	// 9a. audit, write-ahead: no durable record, no call.
	if err := p.cfg.Audit.WriteDecision(rctx, audit.NewRecord(c, &d, cred)); err != nil {
		if d.Effect == call.Allow {
			p.refund(rctx, c, refund)
			if errors.Is(err, context.DeadlineExceeded) {
				// The sink may have kept the record all the same (a commit
				// whose answer came too late); say the call did not run.
				p.writeOutcome(rctx, c, &d, call.Outcome{Status: call.OutcomeNotForwarded, Error: "the decision record could not be confirmed in time: " + err.Error()})
			}
		}
		return p.auditFailed(c, err)
	}
	if d.Effect != call.Allow {
		return d
	}
	if err := ctx.Err(); err != nil {
		// Ended (cancelled, timed out) between the decision and the
		// forwarding: the server never sees it, and the trail says so.
		p.refund(rctx, c, refund)
		p.writeOutcome(rctx, c, &d, call.Outcome{Status: call.OutcomeNotForwarded, Error: "the call ended before it was forwarded: " + err.Error()})
		return d
	}

	// 8. forward & observe.
	forwarded = true
	if a, ok := p.cfg.History.(Admitter); ok {
		a.Admit(ctx, c)
	}
	start := p.cfg.Now()
	out := fwd(ctx, c, cred)
	if out.Duration == 0 {
		out.Duration = p.cfg.Now().Sub(start)
	}

	// 9b. audit, the outcome. The call has happened; a failure here cannot
	// undo it, so it is logged loudly and the sink's health reports it.
	p.writeOutcome(rctx, c, &d, out)
	if err := p.cfg.History.Observe(rctx, c, &out); err != nil {
		p.cfg.Log.Error("history: could not learn from a call; later calls of this task fail closed", "decision_id", d.ID, "error", err)
	}
	return d
}

// writeOutcome appends a forwarded (or allowed and not forwarded) call's
// outcome record, on the call's record context (recordContext).
func (p *Pipeline) writeOutcome(ctx context.Context, c *call.Call, d *call.Decision, out call.Outcome) {
	rec := &audit.OutcomeRecord{
		Type: "outcome", DecisionID: d.ID, Time: p.cfg.Now().UTC(), Status: out.Status,
		DurationMS: float64(out.Duration.Microseconds()) / 1000, Error: out.Error,
	}
	if out.Result != nil {
		sum := sha256.Sum256(out.Result)
		rec.ResultSHA256 = hex.EncodeToString(sum[:])
	}
	if err := p.cfg.Audit.WriteOutcome(ctx, rec); err != nil {
		p.cfg.Log.Error("audit: could not record the outcome of a call", "decision_id", d.ID, "status", out.Status, "error", err)
	}
}

// refund gives back a budget unit spent for a call that does not run.
func (p *Pipeline) refund(ctx context.Context, c *call.Call, refund func(context.Context) error) {
	if refund == nil {
		return
	}
	if err := refund(ctx); err != nil {
		p.cfg.Log.Error("budget: could not give back the unit of a call that did not run", "decision_id", c.ID, "error", err)
	}
}

// judge runs stages 1–5 and returns the policy decision, or the deny of the
// first stage that failed. forwarding: the call will be forwarded if
// allowed (Execute), so a Reserver holds its place in the windows.
func (p *Pipeline) judge(ctx context.Context, c *call.Call, forwarding bool) call.Decision {
	c.ID = newID()
	if c.Time.IsZero() {
		c.Time = p.cfg.Now()
	}

	// 0. describe: server trust and labels, tool annotations and schema.
	shape, err := p.cfg.Catalog.Describe(ctx, c)
	if err != nil {
		return deny(c, StageDescribe, codeOf(err, "call.unknown"), err.Error())
	}
	// 1. identify: who calls, for whom, through which chain.
	if err := p.cfg.Identify.Identify(ctx, c); err != nil {
		return deny(c, StageIdentify, codeOf(err, "identity.failed"), err.Error())
	}
	// A caller asking for another principal needs Action::"Evaluate".
	if err := p.checkCaller(c); err != nil {
		return deny(c, StageIdentify, codeOf(err, CodeOnBehalf), err.Error())
	}
	// 2. task: the task's scope and each delegation hop become layers.
	layers, err := p.cfg.Task.ResolveTask(ctx, c)
	if err != nil {
		return deny(c, StageTask, codeOf(err, "task.failed"), err.Error())
	}
	// 3. facts: what the arguments mean.
	if err := p.cfg.Facts.FindFacts(ctx, c); err != nil {
		return deny(c, StageFacts, codeOf(err, "facts.failed"), err.Error())
	}
	// 4. history: what the task has seen before.
	recall := p.cfg.History.Recall
	if r, ok := p.cfg.History.(Reserver); ok && forwarding {
		recall = r.Reserve
	}
	if err := recall(ctx, c); err != nil {
		return deny(c, StageHistory, codeOf(err, "history.failed"), err.Error())
	}
	// 5. decide: every layer must allow.
	configured := p.cfg.Policies.Layers()
	if len(configured) == 0 || configured[0] == nil {
		return deny(c, StageDecide, policy.CodeNoLayers, "no policies are loaded; every call is denied")
	}
	req, err := policy.NewRequest(c, shape, p.cfg.Limits)
	if err != nil {
		return deny(c, StageDecide, codeOf(err, "call.invalid"), err.Error())
	}
	res := policy.Decide(req, append(slices.Clip(configured), layers...)...)
	return call.Decision{
		ID:            c.ID,
		Effect:        res.Effect,
		Stage:         StageDecide,
		Layer:         res.Layer,
		Policies:      res.Policies,
		Reasons:       res.Reasons,
		Diagnostics:   res.Diagnostics,
		PolicyVersion: res.PolicyVersion,
	}
}

func (p *Pipeline) spend(ctx context.Context, c *call.Call, d call.Decision) (call.Decision, func(context.Context) error) {
	if p.cfg.Budget == nil {
		return d, nil
	}
	refund, err := p.cfg.Budget.Spend(ctx, c)
	if err != nil {
		return deny(c, StageTask, codeOf(err, "task.budget"), err.Error()), nil
	}
	return d, refund
}

func (p *Pipeline) auditFailed(c *call.Call, err error) call.Decision {
	p.cfg.Log.Error("audit: cannot record a decision; denying the call", "decision_id", c.ID, "error", err)
	return deny(c, StageAudit, "audit.write_failed", "the audit trail cannot record this call, so it is denied: "+err.Error())
}

func deny(c *call.Call, stage, code, msg string) call.Decision {
	d := call.Denied(stage, code, msg)
	d.ID = c.ID
	return d
}

// Coded, CodedError and Errorf are the coded errors of package call, named
// here too for the front doors that only import enforce.
type (
	Coded      = call.Coded
	CodedError = call.CodedError
)

// Errorf builds a coded error (call.Errorf).
func Errorf(code, format string, args ...any) error { return call.Errorf(code, format, args...) }

func codeOf(err error, fallback string) string {
	var c Coded
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	var re *policy.RequestError
	if errors.As(err, &re) {
		return re.Code
	}
	return fallback
}

// newID returns a time-ordered decision id (UUIDv7), so ids sort by time.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// The random source failed; a v4 id is no better. Make it visible.
		panic("enforce: cannot generate a decision id: " + err.Error())
	}
	return id.String()
}

// Reachable tells whether the call's principal could ever be allowed to call
// its tool (policy.Reachable), after the describe, identify and task stages.
// Front doors use it to hide tools from tools/list; any stage error counts as
// not reachable.
func (p *Pipeline) Reachable(ctx context.Context, c *call.Call) (bool, string) {
	if _, err := p.cfg.Catalog.Describe(ctx, c); err != nil {
		return false, err.Error()
	}
	if err := p.cfg.Identify.Identify(ctx, c); err != nil {
		return false, err.Error()
	}
	layers, err := p.cfg.Task.ResolveTask(ctx, c)
	if err != nil {
		return false, err.Error()
	}
	configured := p.cfg.Policies.Layers()
	if len(configured) == 0 || configured[0] == nil {
		return false, "no policies are loaded"
	}
	in := c.Input
	c.Input = nil // arguments are not known when listing tools
	req, err := policy.NewRequest(c, nil, p.cfg.Limits)
	c.Input = in
	if err != nil {
		return false, err.Error()
	}
	return policy.Reachable(req, append(slices.Clip(configured), layers...)...)
}
