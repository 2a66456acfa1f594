package approval

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

const orgPolicies = `
@id("pay") permit(principal, action == Action::"bank/pay", resource);
@id("approve-pay") @approval("payments need a human") forbid(principal, action == Action::"bank/pay", resource);

// Who may answer: finance, for bank payments up to 1000; never for similar calls.
@id("finance-approves")
permit(principal in Group::"finance", action == Action::"Approve", resource in Server::"bank")
when { resource.tool == "bank/pay" && resource.input.amount <= 1000 };
@id("no-similar") forbid(principal, action == Action::"Approve", resource) when { context.similar };
`

type env struct {
	svc  *Service
	pipe *enforce.Pipeline
	db   *sqlite.DB
}

func newEnv(t *testing.T, cfg Config, opts ...func(*Options)) *env {
	t.Helper()
	set, err := policy.NewSet("org", []policy.Source{{Name: "org.cedar", Text: []byte(orgPolicies)}})
	if err != nil {
		t.Fatal(err)
	}
	engine := policy.NewStaticEngine(set)
	db, err := sqlite.Open(filepath.Join(t.TempDir(), sqlite.FileName), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	cfg.ApplyDefaults()
	o := Options{Store: db, Policies: engine}
	for _, f := range opts {
		f(&o)
	}
	svc, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sink, err := audit.Open(audit.Config{Sink: "jsonl", Path: filepath.Join(dir, "audit.jsonl")}, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	pipe, err := enforce.New(enforce.Config{Policies: engine, Approve: svc, Audit: sink})
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, pipe: pipe, db: db}
}

func payCall(amount int) *call.Call {
	return &call.Call{
		Principal: call.Principal{Kind: call.KindAgent, ID: "bot", Owner: "alice"},
		Task:      &call.Task{ID: "t1", Purpose: "rent"},
		Server:    call.Server{Name: "bank"}, Tool: call.Tool{Name: "pay"},
		Input: json.RawMessage(`{"amount": ` + itoa(amount) + `, "to": "acct-9"}`),
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

var carol = Approver{Principal: call.Principal{Kind: call.KindUser, ID: "carol", Groups: []string{"finance"}}, Channel: ChannelAPI}

// pending waits for the one pending approval of the store: it re-reads the
// list at each change the service reports, so it needs no polling.
func (e *env) pending(t *testing.T) *View {
	t.Helper()
	for {
		changed := e.svc.Updates()
		vs, err := e.svc.List(context.Background(), nil, store.ApprovalFilter{State: store.ApprovalPending})
		if err != nil {
			t.Fatal(err)
		}
		switch len(vs) {
		case 0:
			<-changed // a hang here is reported by go test's timeout, with every goroutine
		case 1:
			return vs[0]
		default:
			t.Fatalf("%d pending approvals, want one", len(vs))
		}
	}
}

// execute runs the call through the pipeline in the background.
func (e *env) execute(c *call.Call) (<-chan call.Decision, *int) {
	ran := new(int)
	out := make(chan call.Decision, 1)
	go func() {
		out <- e.pipe.Execute(context.Background(), c, func(context.Context, *call.Call, *call.Credential) call.Outcome {
			*ran++
			return call.Outcome{Status: call.OutcomeOK}
		})
	}()
	return out, ran
}

func TestApproveRunsOnceAndIsNotReused(t *testing.T) {
	e := newEnv(t, Config{})
	out, ran := e.execute(payCall(100))
	p := e.pending(t)
	if p.Tool != "bank/pay" || p.Principal != `Agent::"bot"` || p.Task.ID != "t1" || len(p.ArgsSHA256) != 64 {
		t.Fatalf("pending = %+v", p)
	}
	if _, err := e.svc.Decide(context.Background(), p.ID, carol, Answer{Approve: true, Comment: "rent is due"}); err != nil {
		t.Fatal(err)
	}
	d := <-out
	if d.Effect != call.Allow || *ran != 1 || d.Approval == nil || d.Approval.Approver != `User::"carol"` || d.Approval.Comment != "rent is due" {
		t.Fatalf("decision = %+v, ran %d", d, *ran)
	}
	// Answering again is refused; the same call again asks again.
	if _, err := e.svc.Decide(context.Background(), p.ID, carol, Answer{Approve: true}); codeOf(err) != CodeNotPending {
		t.Fatalf("second answer: %v", err)
	}
	out, ran = e.execute(payCall(100))
	p2 := e.pending(t)
	if p2.ID == p.ID {
		t.Fatal("the used approval was offered again")
	}
	e.svc.Decide(context.Background(), p2.ID, carol, Answer{Comment: "paid already"})
	if d := <-out; d.Effect != call.Deny || *ran != 0 || !strings.Contains(d.ReasonText(), "paid already") {
		t.Fatalf("denied: %+v", d)
	}
}

func TestWhoMayAnswer(t *testing.T) {
	e := newEnv(t, Config{FourEyes: true})
	ctx := context.Background()
	e.execute(payCall(5000))
	p := e.pending(t)
	for _, tc := range []struct {
		who  Approver
		ans  Answer
		code string
	}{
		{Approver{Principal: call.Principal{Kind: call.KindAgent, ID: "boss", Groups: []string{"finance"}}}, Answer{Approve: true}, CodeAgentApprover},
		{Approver{Principal: call.Principal{Kind: call.KindUser, ID: "alice", Groups: []string{"finance"}}}, Answer{Approve: true}, CodeFourEyes},
		{Approver{Principal: call.Principal{Kind: call.KindUser, ID: "mallory"}}, Answer{Approve: true}, CodeForbidden},
		{carol, Answer{Approve: true}, CodeForbidden}, // over 1000
		{Approver{Webhook: "slack", Channel: ChannelLink}, Answer{Approve: true}, CodeFourEyes},
		{Approver{Principal: call.Principal{Kind: call.KindUser, ID: "op"}, Operator: true}, Answer{Approve: true, Similar: true}, ""},
	} {
		_, err := e.svc.Decide(ctx, p.ID, tc.who, tc.ans)
		if codeOf(err) != tc.code && !(tc.code == "" && err == nil) {
			t.Errorf("%s %+v: %v, want %s", tc.who.UID(), tc.ans, err, tc.code)
		}
	}
}

func TestTimeoutAndSimilar(t *testing.T) {
	e := newEnv(t, Config{Timeout: time.Second})
	start := time.Now()
	out, ran := e.execute(payCall(1))
	d := <-out
	if d.Effect != call.Deny || *ran != 0 || d.Reasons[len(d.Reasons)-1].Code != CodeTimeout || time.Since(start) < time.Second {
		t.Fatalf("timeout: %+v", d)
	}
	// An operator approves similar calls: the waiting call and the next,
	// with other arguments, run; a call of another task asks.
	out, _ = e.execute(payCall(2))
	p := e.pending(t)
	op := Approver{Principal: call.Principal{Kind: call.KindUser, ID: "op"}, Channel: ChannelCLI, Operator: true}
	if _, err := e.svc.Decide(context.Background(), p.ID, op, Answer{Approve: true, Similar: true}); err != nil {
		t.Fatal(err)
	}
	if d := <-out; d.Effect != call.Allow {
		t.Fatalf("%+v", d)
	}
	if d := e.pipe.Decide(context.Background(), payCall(3)); d.Effect != call.Allow || d.Approval == nil || !d.Approval.Similar {
		t.Fatalf("similar: %+v", d)
	}
	other := payCall(3)
	other.Task.ID = "t2"
	if d := e.pipe.Decide(context.Background(), other); d.Effect != call.Ask {
		t.Fatalf("other task: %+v", d)
	}
}

// TestSettle: the AuthZEN path asks, then allows once after approval.
func TestSettle(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	d := e.pipe.Decide(ctx, payCall(7))
	if d.Effect != call.Ask || !strings.Contains(d.ReasonText(), "apv_") {
		t.Fatalf("first: %+v", d)
	}
	if d2 := e.pipe.Decide(ctx, payCall(7)); d2.Effect != call.Ask {
		t.Fatalf("again: %+v", d2)
	}
	p := e.pending(t) // one approval for both asks
	if d := e.pipe.Decide(ctx, payCall(8)); d.Effect != call.Ask {
		t.Fatal(d)
	}
	e.svc.Decide(ctx, p.ID, carol, Answer{Approve: true})
	if d := e.pipe.Decide(ctx, payCall(7)); d.Effect != call.Allow {
		t.Fatalf("after approval: %+v", d)
	}
	if d := e.pipe.Decide(ctx, payCall(7)); d.Effect != call.Ask {
		t.Fatalf("replayed: %+v", d)
	}
}

// TestDisconnect: a client that goes away keeps or cancels its approval.
func TestDisconnect(t *testing.T) {
	for _, mode := range []string{Keep, Cancel} {
		e := newEnv(t, Config{OnDisconnect: mode})
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan call.Decision, 1)
		go func() { out <- e.pipe.Execute(ctx, payCall(9), nil) }()
		p := e.pending(t)
		cancel()
		d := <-out
		_, err := e.svc.Decide(context.Background(), p.ID, carol, Answer{Approve: true})
		if mode == Keep {
			if d.Reasons[len(d.Reasons)-1].Code != CodeDisconnected || err != nil {
				t.Fatalf("keep: %+v, %v", d, err)
			}
			// The same call again runs once.
			if d := e.pipe.Execute(context.Background(), payCall(9), func(context.Context, *call.Call, *call.Credential) call.Outcome {
				return call.Outcome{}
			}); d.Effect != call.Allow {
				t.Fatalf("retry: %+v", d)
			}
		} else if d.Reasons[len(d.Reasons)-1].Code != CodeCancelled || codeOf(err) != CodeNotPending {
			t.Fatalf("cancel: %+v, %v", d, err)
		}
	}
}

// TestRequestDeadlineIsATimeout: when the request's own deadline passes
// while the call waits, the agent is told approval.timeout (nobody answered
// in time), not that it went away, and the approval stays pending: once
// approved, the same call runs. (On the old code: approval.disconnected, or
// the approval cancelled.)
func TestRequestDeadlineIsATimeout(t *testing.T) {
	for _, mode := range []string{Keep, Cancel} {
		e := newEnv(t, Config{OnDisconnect: mode})
		ctx, end := deadlineContext()
		out := make(chan call.Decision, 1)
		go func() { out <- e.pipe.Execute(ctx, payCall(11), nil) }()
		p := e.pending(t)
		end()
		d := <-out
		if d.Effect != call.Deny || d.Reasons[len(d.Reasons)-1].Code != CodeTimeout {
			t.Fatalf("%s: %+v, want %s", mode, d, CodeTimeout)
		}
		if _, err := e.svc.Decide(context.Background(), p.ID, carol, Answer{Approve: true}); err != nil {
			t.Fatalf("%s: the approval did not stay pending: %v", mode, err)
		}
		if d := e.pipe.Execute(context.Background(), payCall(11), func(context.Context, *call.Call, *call.Credential) call.Outcome {
			return call.Outcome{}
		}); d.Effect != call.Allow {
			t.Fatalf("%s: retry: %+v", mode, d)
		}
	}
}

// deadlineContext is a context whose deadline the test makes pass (end),
// so that no clock decides when.
func deadlineContext() (context.Context, func()) {
	e := &deadlined{Context: context.Background(), done: make(chan struct{})}
	return e, func() {
		e.mu.Lock()
		e.ended = true
		e.mu.Unlock()
		close(e.done)
	}
}

type deadlined struct {
	context.Context
	mu    sync.Mutex
	done  chan struct{}
	ended bool
}

func (d *deadlined) Done() <-chan struct{} { return d.done }

func (d *deadlined) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended {
		return context.DeadlineExceeded
	}
	return nil
}

func TestUnbindableArguments(t *testing.T) {
	e := newEnv(t, Config{})
	c := payCall(1)
	c.Input = json.RawMessage(`{"amount": 9007199254740993}`)
	d := e.pipe.Decide(context.Background(), c)
	if d.Effect != call.Deny || d.Reasons[len(d.Reasons)-1].Code != CodeArguments {
		t.Fatalf("%+v", d)
	}
}

// TestIdenticalAsksShareOneApproval: identical asks arriving at the same
// moment (AuthZEN, and calls that wait) join one pending approval, so
// once a person approves the one the agent was told about, asking again
// is allowed.
func TestIdenticalAsksShareOneApproval(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	const n = 8
	start := make(chan struct{})
	ids := make(chan string, n)
	for range n {
		go func() {
			<-start
			d := e.pipe.Decide(ctx, payCall(42))
			ids <- d.ReasonText()
		}()
	}
	close(start)
	var first string
	for range n {
		text := <-ids
		id := text[strings.Index(text, "apv_"):][:20]
		if first == "" {
			first = id
		} else if id != first {
			t.Fatalf("two approvals for one call: %s and %s", first, id)
		}
	}
	all, err := e.db.Approvals(ctx, store.ApprovalFilter{})
	if err != nil || len(all) != 1 {
		t.Fatalf("%d approvals for %d identical asks (%v)", len(all), n, err)
	}
	if _, err := e.svc.Decide(ctx, first, carol, Answer{Approve: true}); err != nil {
		t.Fatal(err)
	}
	if d := e.pipe.Decide(ctx, payCall(42)); d.Effect != call.Allow {
		t.Fatalf("after the approval: %+v", d)
	}

	// Calls that wait join one approval too.
	outs := make([]<-chan call.Decision, 4)
	start = make(chan struct{})
	for i := range outs {
		out := make(chan call.Decision, 1)
		outs[i] = out
		go func() {
			<-start
			d, _ := e.execute(payCall(43))
			out <- <-d
		}()
	}
	close(start)
	p := e.pending(t) // exactly one, or it fails
	if _, err := e.svc.Decide(ctx, p.ID, carol, Answer{Comment: "no"}); err != nil {
		t.Fatal(err)
	}
	for _, out := range outs {
		if d := <-out; d.Effect != call.Deny {
			t.Fatalf("a waiting call: %+v", d)
		}
	}
}

// TestPendingCapPerPrincipal: one agent cannot flood the approvers; the
// call beyond the cap is denied with a clear code, others are not held.
func TestPendingCapPerPrincipal(t *testing.T) {
	e := newEnv(t, Config{MaxPendingPerPrincipal: 3})
	ctx := context.Background()
	start := make(chan struct{})
	codes := make(chan string, 10)
	for i := range 10 {
		go func() {
			<-start
			d := e.pipe.Decide(ctx, payCall(100+i))
			codes <- string(d.Effect) + " " + d.Reasons[len(d.Reasons)-1].Code
		}()
	}
	close(start)
	got := map[string]int{}
	for range 10 {
		got[<-codes]++
	}
	if got["ask "+CodePending] != 3 || got["deny "+CodeTooMany] != 7 {
		t.Fatalf("10 asks under a cap of 3: %v", got)
	}
	// Asking again about a pending call is not a new approval.
	if d := e.pipe.Decide(ctx, payCall(100)); d.Effect != call.Ask && d.Reasons[len(d.Reasons)-1].Code != CodeTooMany {
		t.Fatalf("again: %+v", d)
	}
	// Another agent is not affected.
	other := payCall(1)
	other.Principal.ID = "other-bot"
	if d := e.pipe.Decide(ctx, other); d.Effect != call.Ask {
		t.Fatalf("another agent: %+v", d)
	}
	// Once one is answered, there is room again.
	ps, _ := e.svc.List(ctx, nil, store.ApprovalFilter{State: store.ApprovalPending, Principal: `Agent::"bot"`})
	if _, err := e.svc.Decide(ctx, ps[0].ID, carol, Answer{}); err != nil {
		t.Fatal(err)
	}
	if d := e.pipe.Decide(ctx, payCall(500)); d.Effect != call.Ask {
		t.Fatalf("after an answer: %+v", d)
	}
}

// TestRedactedBeforeWritten: the arguments of a call that waits for
// approval are redacted before anything is written — the store, the API
// view, webhooks, elicitation — by the trail's rules (secret names, shapes,
// configured paths), while the approval stays bound to the real arguments
// and Approve policies still read the values that are not secret.
func TestRedactedBeforeWritten(t *testing.T) {
	red, err := audit.NewRedactor(audit.RedactConfig{Arguments: map[string][]string{"bank/pay": {"to"}}}, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	hook := make(chan []byte, 1)
	wh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hook <- b
	}))
	defer wh.Close()
	ks, err := keys.OpenFile(t.TempDir(), keys.Config{}, keys.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Config{Elicitation: true, PublicURL: "http://toolgate.test", Webhooks: []WebhookConfig{{Name: "ops", URL: wh.URL, IncludeArguments: true}}},
		func(o *Options) { o.Redactor = red; o.Links = keys.NewTokens(ks, "toolgate") })
	secrets := []string{"acct-9", "hunter2hunter2", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "s3cr3tpw", "rentkey12345"}
	c := payCall(100)
	c.Input = json.RawMessage(`{"amount": 100, "to": "acct-9", "db_password": "hunter2hunter2",
		"headers": {"X-Api-Key": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"}, "note": "postgres://u:s3cr3tpw@db/x"}`)
	c.Task.Purpose = "pay rent, api_key=rentkey12345"
	elicited := make(chan string, 1)
	ctx := WithElicitor(context.Background(), elicitFunc(func(msg string) { elicited <- msg }))
	out := make(chan call.Decision, 1)
	go func() {
		out <- e.pipe.Execute(ctx, c, func(context.Context, *call.Call, *call.Credential) call.Outcome { return call.Outcome{} })
	}()
	p := e.pending(t)

	var webhook []byte
	select {
	case webhook = <-hook:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook")
	}
	stored, err := e.db.Approval(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	view, _ := json.Marshal(p)
	written := map[string]string{"store": string(stored.Call), "view": string(view), "webhook": string(webhook), "elicitation": <-elicited}
	for where, text := range written {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s carries %q: %s", where, s, text)
			}
		}
		if !strings.Contains(text, audit.RedactedPrefix) {
			t.Errorf("%s shows no redaction: %s", where, text)
		}
	}
	// Bound to the real arguments, and the policy on the amount still
	// decides who may answer.
	if want, _ := ArgsDigest(c.Input); p.ArgsSHA256 != want {
		t.Errorf("bound to %s, want %s", p.ArgsSHA256, want)
	}
	if _, err := e.svc.Decide(context.Background(), p.ID, carol, Answer{Approve: true, Comment: "ok, password=hunter2hunter2"}); err != nil {
		t.Fatal(err)
	}
	<-out
	if a, _ := e.db.Approval(context.Background(), p.ID); strings.Contains(a.Comment, "hunter2hunter2") {
		t.Errorf("the comment was stored in the clear: %q", a.Comment)
	}
}

type elicitFunc func(msg string)

func (f elicitFunc) Elicit(ctx context.Context, msg string, _ json.RawMessage) (string, json.RawMessage, error) {
	f(msg)
	<-ctx.Done()
	return "", nil, ctx.Err()
}

// TestStopEndsWaits: when toolgate stops, a call that waits for approval
// ends at once with approval.stopping (the drain does not wait for a
// person), and its approval stays pending for the restart. Before, the call
// held the drain until its timeout and serve exited with an error.
func TestStopEndsWaits(t *testing.T) {
	e := newEnv(t, Config{OnDisconnect: Cancel})
	life, stop := context.WithCancel(context.Background())
	e.svc.Lifetime(life)
	out, ran := e.execute(payCall(100))
	p := e.pending(t)
	stop()
	d := <-out
	if d.Effect != call.Deny || *ran != 0 || d.Reasons[len(d.Reasons)-1].Code != CodeStopping {
		t.Fatalf("a call waiting when toolgate stops: %+v", d)
	}
	vs, err := e.svc.List(context.Background(), nil, store.ApprovalFilter{State: store.ApprovalPending})
	if err != nil || len(vs) != 1 || vs[0].ID != p.ID {
		t.Fatalf("after the stop, pending approvals: %v %v, want %s (kept whatever on_disconnect says)", vs, err, p.ID)
	}
}
