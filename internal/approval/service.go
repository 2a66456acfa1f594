package approval

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/redirect"
	"github.com/toolgate/toolgate/internal/store"
)

// Options are the parts the service works with.
type Options struct {
	Store store.Approvals
	// Policies are the configured layers; the first (the organisation's)
	// says who may answer what.
	Policies enforce.Policies
	// Identity authenticates approvers on the admin API (nil: nobody can
	// answer over HTTP).
	Identity *identity.Verifier
	// Links signs and verifies the links webhooks carry (nil: no links,
	// and no webhooks).
	Links  *keys.Tokens
	Limits cedarjson.Limits
	// Redactor redacts what is stored and shown of a call (arguments,
	// purpose, reasons, comments) as the audit trail does; default: the
	// built-in detection with a key of this process.
	Redactor *audit.Redactor
	// Client sends webhooks (default: a client with a 10s timeout).
	Client *http.Client
	Log    *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Service is the approve stage (enforce.Approver, enforce.Settler) and what
// the admin API, the CLI and links answer through.
type Service struct {
	cfg Config
	o   Options

	mu   sync.Mutex
	wake chan struct{} // closed and replaced when this process records an answer
	// updates is closed and replaced at every change this process sees: a
	// call starts waiting, an answer is recorded, another replica changed
	// something. Watchers (the console, tests) re-read the list then.
	updates chan struct{}
	// life ends when toolgate is stopping: a wait that ends then keeps its
	// approval whatever on_disconnect says, so a restart keeps them all.
	life context.Context

	deliveries sync.WaitGroup // webhooks and elicitations in flight
}

var (
	_ enforce.Approver = (*Service)(nil)
	_ enforce.Settler  = (*Service)(nil)
)

// New checks the config (defaults applied) and the options.
func New(cfg Config, o Options) (*Service, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("approvals: %s", strings.Join(errs, "; "))
	}
	if o.Store == nil || o.Policies == nil {
		return nil, errors.New("approvals: a store and policies are required")
	}
	if len(cfg.Webhooks) > 0 && o.Links == nil {
		return nil, errors.New("approvals: webhooks need toolgate's keys to sign their links")
	}
	if o.Limits == (cedarjson.Limits{}) {
		o.Limits = cedarjson.DefaultLimits()
	}
	if o.Redactor == nil {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("approvals: %w", err)
		}
		red, err := audit.NewRedactor(audit.RedactConfig{}, key)
		if err != nil {
			return nil, err
		}
		o.Redactor = red
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	// A webhook carries a signed approval link: a redirect to another
	// origin is not followed.
	o.Client = redirect.Client(o.Client, redirect.SameOrigin)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{cfg: cfg, o: o, wake: make(chan struct{}), updates: make(chan struct{}), life: context.Background()}, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// SetPublicURL sets where links point when approvals.public_url is not
// configured (serve: its own address).
func (s *Service) SetPublicURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.PublicURL == "" {
		s.cfg.PublicURL = u
	}
}

func (s *Service) publicURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.PublicURL
}

// Lifetime tells the service that toolgate stops when ctx ends.
func (s *Service) Lifetime(ctx context.Context) {
	s.mu.Lock()
	s.life = ctx
	s.mu.Unlock()
}

func (s *Service) stopping() bool {
	return s.lifetime().Err() != nil
}

func (s *Service) lifetime() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.life
}

// Close waits (a little) for webhooks still being sent.
func (s *Service) Close() {
	done := make(chan struct{})
	go func() { s.deliveries.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

func (s *Service) now() time.Time { return s.o.Now() }

// Changed tells the service that approvals changed elsewhere (another
// replica recorded an answer): the calls waiting here look now instead of
// at their next poll.
func (s *Service) Changed() { s.poke() }

// poke wakes the calls of this process that wait for an answer.
func (s *Service) poke() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	close(s.updates)
	s.updates = make(chan struct{})
	s.mu.Unlock()
}

// Updates returns a channel that is closed at the next change of the
// approvals this process sees (a call starts waiting, an answer is
// recorded, another replica reports a change). Take the channel, then read
// the list: a change in between closes the channel already taken.
func (s *Service) Updates() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

// updated closes the updates channel without waking the waiting calls: a
// new pending approval answers none of them.
func (s *Service) updated() {
	s.mu.Lock()
	close(s.updates)
	s.updates = make(chan struct{})
	s.mu.Unlock()
}

func (s *Service) woken() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// Await implements enforce.Approver: it waits for a human's answer on the
// exact call. The result is allow only when a human approved this call (or
// similar calls of its task), and each approval lets one call through.
func (s *Service) Await(ctx context.Context, c *call.Call, d call.Decision) (call.Decision, error) {
	start := s.now()
	b, err := bind(c, &d)
	if err != nil {
		return refused(d, err), nil
	}
	if dec, ok, err := s.useGrant(ctx, b, d); err != nil || ok {
		return dec, err
	}
	prog := progressOf(ctx)
	// An approval used by a concurrent identical call makes this call ask
	// again; twice is plenty before giving up.
	for range 3 {
		a, err := s.open(ctx, c, &d, b)
		if err != nil {
			return call.Decision{}, err
		}
		dec, retry, err := s.wait(ctx, a, d, start, prog)
		if !retry {
			return dec, err
		}
	}
	return refused(d, errorf(CodeStore, "the approval of this call was used by another call each time; try again")), nil
}

// Settle implements enforce.Settler, for the AuthZEN API, which answers at
// once: the result is allow if a human approved this exact call (once),
// deny if a human denied it, and ask — with the pending approval's id in a
// reason — while nobody has answered.
func (s *Service) Settle(ctx context.Context, c *call.Call, d call.Decision) (call.Decision, error) {
	b, err := bind(c, &d)
	if err != nil {
		return refused(d, err), nil
	}
	if dec, ok, err := s.useGrant(ctx, b, d); err != nil || ok {
		return dec, err
	}
	for range 3 {
		a, err := s.open(ctx, c, &d, b)
		if err != nil {
			return call.Decision{}, err
		}
		switch a.State {
		case store.ApprovalApproved, store.ApprovalDenied:
			dec, retry, err := s.deliver(ctx, a, d, s.now())
			if !retry {
				return dec, err
			}
		default:
			d.Reasons = append(d.Reasons, call.Reason{Kind: call.ReasonApproval, Code: CodePending, Approval: a.ID,
				Message: fmt.Sprintf("waiting for a person to approve this exact call (approval %s, until %s); ask again with the same request",
					a.ID, a.ExpiresAt.UTC().Format(time.RFC3339))})
			return d, nil
		}
	}
	return refused(d, errorf(CodeStore, "the approval of this call was used by another call each time; try again")), nil
}

// useGrant lets a call through on an "approve similar calls" grant.
func (s *Service) useGrant(ctx context.Context, b Binding, d call.Decision) (call.Decision, bool, error) {
	if b.TaskID == "" {
		return d, false, nil
	}
	g, err := s.o.Store.SimilarGrant(ctx, b.SimilarKey(), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, errorf(CodeStore, "the approval store cannot be read: %v", err)
	}
	ok, err := s.o.Store.UseApproval(ctx, g.ID, d.ID, s.now())
	if err != nil {
		return d, false, errorf(CodeStore, "the approval store cannot be written: %v", err)
	}
	if !ok {
		return d, false, nil // it expired just now
	}
	return approved(d, g, 0, true), true, nil
}

// open finds the approval a call joins — pending, or answered and not yet
// used — or makes a new one and tells the humans about it. The store keeps
// one open approval per binding: identical calls arriving at the same
// moment join one approval, whichever creates it.
func (s *Service) open(ctx context.Context, c *call.Call, d *call.Decision, b Binding) (*store.Approval, error) {
	for range 3 {
		now := s.now()
		a, err := s.o.Store.OpenApproval(ctx, b.Key(), now)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, errorf(CodeStore, "the approval store cannot be read: %v", err)
		}
		rec := s.recordOf(c, d)
		raw, err := json.Marshal(rec)
		if err != nil {
			return nil, errorf(CodeStore, "the call cannot be recorded for approval: %v", err)
		}
		a = &store.Approval{
			ID: newApprovalID(), Key: b.Key(), SimilarKey: b.SimilarKey(),
			Principal: b.Principal, Owner: b.Owner, TaskID: b.TaskID, Tool: b.Tool, ArgsSHA256: b.ArgsSHA256,
			PolicyVersion: b.PolicyVersion, DecisionID: d.ID, Call: raw,
			CreatedAt: now, ExpiresAt: now.Add(s.cfg.Timeout), State: store.ApprovalPending,
		}
		switch err := s.o.Store.CreateApproval(ctx, a, s.cfg.MaxPendingPerPrincipal); {
		case errors.Is(err, store.ErrApprovalOpen):
			continue // an identical call made it just now: join it
		case errors.Is(err, store.ErrTooManyPending):
			s.o.Log.Warn("a call that needs approval is denied: its caller has too many pending approvals",
				"principal", a.Principal, "tool", a.Tool, "max", s.cfg.MaxPendingPerPrincipal)
			return nil, errorf(CodeTooMany, "%s already has %d calls waiting for approval (approvals.max_pending_per_principal); wait for them to be answered",
				a.Principal, s.cfg.MaxPendingPerPrincipal)
		case err != nil:
			return nil, errorf(CodeStore, "the approval cannot be stored: %v", err)
		}
		s.o.Log.Info("a call waits for approval", "approval", a.ID, "tool", a.Tool, "principal", a.Principal,
			"task", a.TaskID, "expires", a.ExpiresAt.UTC().Format(time.RFC3339))
		s.updated()
		s.announce(ctx, a, rec)
		return a, nil
	}
	return nil, errorf(CodeStore, "the approval of this call kept changing while it was opened; try again")
}

// wait waits until the approval is answered, expires, or the client goes
// away. retry is true when the approval was used by another call. While it
// waits, prog (if any) hears of it at once and then every
// approvals.progress_interval.
func (s *Service) wait(ctx context.Context, a *store.Approval, d call.Decision, start time.Time, prog *progress) (call.Decision, bool, error) {
	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	var tick <-chan time.Time
	if prog != nil {
		t := time.NewTicker(s.cfg.ProgressInterval)
		defer t.Stop()
		tick = t.C
	}
	told := false
	// A stopping toolgate ends the waits at once, so a drain does not wait
	// for people; the approvals stay pending for the restart.
	life := s.lifetime()
	for {
		wake := s.woken()
		now := s.now()
		cur, err := s.o.Store.Approval(ctx, a.ID)
		if err != nil {
			if ctx.Err() != nil {
				return s.abandon(ctx, a, d), false, nil
			}
			return d, false, errorf(CodeStore, "the approval store cannot be read: %v", err)
		}
		switch cur.State {
		case store.ApprovalApproved, store.ApprovalDenied:
			return s.deliver(ctx, cur, d, start)
		case store.ApprovalExpired:
			return timedOut(d, cur, s.cfg.Timeout), false, nil
		case store.ApprovalCancelled:
			return refusedFor(d, cur, errorf(CodeCancelled, "approval %s was cancelled", cur.ID)), false, nil
		}
		if !now.Before(cur.ExpiresAt) {
			if _, err := s.o.Store.CloseApproval(context.WithoutCancel(ctx), cur.ID, store.ApprovalExpired, now); err != nil {
				return d, false, errorf(CodeStore, "the approval store cannot be written: %v", err)
			}
			continue // expired now, or answered just before
		}
		if !told {
			prog.tell(cur)
			told = true
		}
		deadline := time.NewTimer(cur.ExpiresAt.Sub(now))
		select {
		case <-ctx.Done():
			deadline.Stop()
			return s.abandon(ctx, cur, d), false, nil
		case <-life.Done():
			deadline.Stop()
			s.o.Log.Info("toolgate is stopping while a call waits for approval; the approval stays pending", "approval", cur.ID)
			return refusedFor(d, cur, errorf(CodeStopping,
				"toolgate is stopping while the call waits for approval %s; it stays pending until %s: once it is approved, make the same call again and it runs (once)",
				cur.ID, cur.ExpiresAt.UTC().Format(time.RFC3339))), false, nil
		case <-wake:
		case <-poll.C:
		case <-tick:
			prog.tell(cur)
		case <-deadline.C:
		}
		deadline.Stop()
	}
}

// deliver hands an answered approval's answer to the call, once.
func (s *Service) deliver(ctx context.Context, a *store.Approval, d call.Decision, start time.Time) (call.Decision, bool, error) {
	now := s.now()
	ok, err := s.o.Store.UseApproval(context.WithoutCancel(ctx), a.ID, d.ID, now)
	if err != nil {
		return d, false, errorf(CodeStore, "the approval store cannot be written: %v", err)
	}
	if a.State == store.ApprovalDenied {
		// A denial denies whether or not another call saw it first.
		return deniedBy(d, a, now.Sub(start)), false, nil
	}
	if !ok {
		return d, true, nil // another call used it: ask again
	}
	return approved(d, a, now.Sub(start), a.Similar), false, nil
}

// abandon ends a wait whose client went away (or toolgate is stopping).
func (s *Service) abandon(ctx context.Context, a *store.Approval, d call.Decision) call.Decision {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The request's own time limit (a client's or a front door's)
		// passed before anybody answered: nobody answered in time. The
		// approval stays pending, so the same call asked again runs once
		// approved.
		s.o.Log.Info("the request's time ran out while its call waited for approval; the approval stays pending", "approval", a.ID)
		return refusedFor(d, a, errorf(CodeTimeout,
			"nobody answered approval %s within the request's time limit; it stays pending until %s: once it is approved, make the same call again and it runs (once)",
			a.ID, a.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	if s.stopping() || s.cfg.OnDisconnect == Keep {
		s.o.Log.Info("the client went away while its call waited for approval; the approval stays pending", "approval", a.ID)
		return refusedFor(d, a, errorf(CodeDisconnected,
			"the client went away while the call waited for approval %s; it stays pending until %s: once it is approved, make the same call again and it runs (once)",
			a.ID, a.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.o.Store.CloseApproval(ctx, a.ID, store.ApprovalCancelled, s.now()); err != nil {
		s.o.Log.Error("cannot cancel an approval whose client went away", "approval", a.ID, "error", err)
	}
	s.o.Log.Info("the client went away while its call waited for approval; the approval is cancelled", "approval", a.ID)
	return refusedFor(d, a, errorf(CodeCancelled, "the client went away while the call waited for approval %s; the approval is cancelled (approvals.on_disconnect: cancel)", a.ID))
}

// Decide records a human's answer on a pending approval.
func (s *Service) Decide(ctx context.Context, id string, who Approver, ans Answer) (*View, error) {
	now := s.now()
	a, err := s.o.Store.Approval(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(CodeNotFound, "there is no approval %s", id)
	}
	if err != nil {
		return nil, errorf(CodeStore, "the approval store cannot be read: %v", err)
	}
	if a.State != store.ApprovalPending {
		return nil, notPending(a)
	}
	if !now.Before(a.ExpiresAt) {
		_, _ = s.o.Store.CloseApproval(ctx, a.ID, store.ApprovalExpired, now)
		return nil, errorf(CodeNotPending, "approval %s expired at %s", id, a.ExpiresAt.UTC().Format(time.RFC3339))
	}
	rec, err := decodeRecord(a)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(a, rec, who, ans, now); err != nil {
		s.o.Log.Warn("an answer to an approval was refused", "approval", id, "approver", who.UID().String(), "channel", who.Channel, "error", err)
		return nil, err
	}
	comment, _ := s.o.Redactor.Text(ans.Comment)
	dec := store.ApprovalDecision{State: store.ApprovalDenied, At: now, Approver: who.UID().String(), Channel: who.Channel,
		Comment: comment, ExpiresAt: now.Add(s.cfg.Timeout)}
	if ans.Approve {
		dec.State = store.ApprovalApproved
		if ans.Similar {
			dec.Similar, dec.ExpiresAt = true, now.Add(s.cfg.SimilarTTL)
		}
	}
	switch err := s.o.Store.DecideApproval(ctx, id, dec); {
	case errors.Is(err, store.ErrNotPending):
		if cur, err := s.o.Store.Approval(ctx, id); err == nil {
			return nil, notPending(cur)
		}
		return nil, errorf(CodeNotPending, "approval %s is no longer pending", id)
	case err != nil:
		return nil, errorf(CodeStore, "the answer cannot be stored: %v", err)
	}
	s.poke()
	s.o.Log.Info("approval answered", "approval", id, "state", dec.State, "approver", dec.Approver, "channel", dec.Channel, "similar", dec.Similar)
	cur, err := s.o.Store.Approval(ctx, id)
	if err != nil {
		return nil, errorf(CodeStore, "the approval store cannot be read: %v", err)
	}
	return viewOf(cur, rec, now), nil
}

func notPending(a *store.Approval) error {
	what := a.State
	switch {
	case a.State == store.ApprovalApproved && !a.UsedAt.IsZero():
		what = "approved and used already"
	case a.State == store.ApprovalApproved || a.State == store.ApprovalDenied:
		what += " already (by " + a.Approver + ")"
	}
	return errorf(CodeNotPending, "approval %s is %s; it cannot be answered again", a.ID, what)
}

// Get returns one approval as the operator sees it.
func (s *Service) Get(ctx context.Context, id string) (*View, *store.Approval, error) {
	a, err := s.o.Store.Approval(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errorf(CodeNotFound, "there is no approval %s", id)
	}
	if err != nil {
		return nil, nil, errorf(CodeStore, "the approval store cannot be read: %v", err)
	}
	rec, err := decodeRecord(a)
	if err != nil {
		return nil, nil, err
	}
	s.expireIfDue(ctx, a)
	return viewOf(a, rec, s.now()), a, nil
}

// List returns the approvals matching f, newest first. With who set, only
// those who may answer (approve or deny) are listed.
func (s *Service) List(ctx context.Context, who *Approver, f store.ApprovalFilter) ([]*View, error) {
	as, err := s.o.Store.Approvals(ctx, f)
	if err != nil {
		return nil, errorf(CodeStore, "the approval store cannot be read: %v", err)
	}
	now := s.now()
	out := []*View{}
	for _, a := range as {
		rec, err := decodeRecord(a)
		if err != nil {
			s.o.Log.Error("skipping a damaged approval", "approval", a.ID, "error", err)
			continue
		}
		if who != nil && s.authorize(a, rec, *who, Answer{Approve: true}, now) != nil &&
			s.authorize(a, rec, *who, Answer{}, now) != nil {
			continue
		}
		s.expireIfDue(ctx, a)
		if f.State == store.ApprovalPending && a.State != store.ApprovalPending {
			continue
		}
		out = append(out, viewOf(a, rec, now))
	}
	return out, nil
}

// expireIfDue records the expiry of a pending approval past its deadline
// (nobody may be waiting for it to notice).
func (s *Service) expireIfDue(ctx context.Context, a *store.Approval) {
	now := s.now()
	if a.State == store.ApprovalPending && !now.Before(a.ExpiresAt) {
		if ok, err := s.o.Store.CloseApproval(ctx, a.ID, store.ApprovalExpired, now); err == nil && ok {
			a.State, a.DecidedAt = store.ApprovalExpired, now
		}
	}
}

// The decisions the stage returns.

func approved(d call.Decision, a *store.Approval, waited time.Duration, similar bool) call.Decision {
	d.Effect = call.Allow
	d.Stage = enforce.StageApprove
	d.Approval = &call.Approval{ID: a.ID, Approver: a.Approver, Channel: a.Channel, Approved: true, Time: a.DecidedAt,
		Comment: a.Comment, Waited: waited, Similar: similar}
	msg := "approved by " + a.Approver
	if similar {
		msg += " for similar calls of this task"
	}
	msg += " (approval " + a.ID + ")"
	if a.Comment != "" {
		msg += ": " + a.Comment
	}
	d.Reasons = append(d.Reasons, call.Reason{Kind: call.ReasonApproval, Code: "approval.approved", Message: msg})
	return d
}

func deniedBy(d call.Decision, a *store.Approval, waited time.Duration) call.Decision {
	d.Effect = call.Deny
	d.Stage = enforce.StageApprove
	d.Approval = &call.Approval{ID: a.ID, Approver: a.Approver, Channel: a.Channel, Time: a.DecidedAt,
		Comment: a.Comment, Waited: waited}
	msg := "denied by " + a.Approver + " (approval " + a.ID + ")"
	if a.Comment != "" {
		msg += ": " + a.Comment
	}
	d.Reasons = append(d.Reasons, call.Reason{Kind: call.ReasonApproval, Code: CodeDenied, Message: msg})
	return d
}

func timedOut(d call.Decision, a *store.Approval, timeout time.Duration) call.Decision {
	return refusedFor(d, a, errorf(CodeTimeout, "nobody approved the call within %s (approval %s expired), so it is denied; making the call again asks again", timeout, a.ID))
}

// refused denies an ask for a reason that is not a human's answer.
func refused(d call.Decision, err error) call.Decision {
	code := CodeStore
	var e *Error
	if errors.As(err, &e) {
		code = e.Code
	}
	d.Effect = call.Deny
	d.Stage = enforce.StageApprove
	d.Reasons = append(d.Reasons, call.Reason{Kind: call.ReasonError, Code: code, Message: err.Error()})
	return d
}

// refusedFor is refused for a reason about approval a: the reason names it,
// so that the agent (and its client) can tell which approval to wait for.
func refusedFor(d call.Decision, a *store.Approval, err error) call.Decision {
	d = refused(d, err)
	d.Reasons[len(d.Reasons)-1].Approval = a.ID
	return d
}

// newApprovalID returns a short random id that is easy to type:
// "apv_" and 16 base32 characters (80 random bits).
func newApprovalID() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("approval: no randomness: " + err.Error())
	}
	return "apv_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
