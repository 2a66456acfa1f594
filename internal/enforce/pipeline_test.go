package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/audit/audittest"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/policy"
)

const testPolicies = `
@id("read") permit(principal, action == Action::"fs/read", resource);
@id("pay") permit(principal, action == Action::"bank/pay", resource);
@id("approve-pay") @approval("payments need a human") forbid(principal, action == Action::"bank/pay", resource);
`

func engine(t *testing.T) *policy.Engine {
	t.Helper()
	set, err := policy.NewSet("org", []policy.Source{{Name: "p.cedar", Text: []byte(testPolicies)}})
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewStaticEngine(set)
}

func newCall(tool string) *call.Call {
	server, name, _ := strings.Cut(tool, "/")
	return &call.Call{
		Principal: call.Principal{Kind: call.KindAgent, ID: "a"},
		Server:    call.Server{Name: server},
		Tool:      call.Tool{Name: name},
		Input:     json.RawMessage(`{"x": 1}`),
	}
}

// memSink is the in-memory audit sink (a test double standing in for a
// store, so the tests can make it fail) with the forward step that notes
// its turn among the records.
type memSink struct{ audittest.Sink }

func (m *memSink) forward(ctx context.Context, c *call.Call, _ *call.Credential) call.Outcome {
	m.Note("forward")
	return call.Outcome{Status: call.OutcomeOK, Result: []byte(`{"content":[]}`)}
}

func TestExecuteWriteAheadThenForward(t *testing.T) {
	sink := &memSink{}
	p, err := New(Config{Policies: engine(t), Audit: sink})
	if err != nil {
		t.Fatal(err)
	}
	d := p.Execute(context.Background(), newCall("fs/read"), sink.forward)
	if d.Effect != call.Allow {
		t.Fatalf("%+v", d)
	}
	want := "decision:allow forward outcome:ok"
	if got := strings.Join(sink.Events, " "); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	r := sink.Decisions[0]
	if r.DecisionID != d.ID || r.Server != "fs" || r.Tool != "read" || string(r.Arguments) != `{"x": 1}` || r.ActorType != "agent" || r.PolicyVersion == "" {
		t.Fatalf("record %+v", r)
	}
	if o := sink.Outcomes[0]; o.DecisionID != d.ID || o.ResultSHA256 == "" {
		t.Fatalf("outcome %+v", o)
	}
}

func TestExecuteFailsClosed(t *testing.T) {
	mintErr := errors.New("signer unavailable")
	tests := []struct {
		name   string
		cfg    func(*Config, *memSink)
		call   *call.Call
		stage  string
		code   string
		events string
	}{
		{"denied by policy", nil, newCall("fs/write"), StageDecide, "", "decision:deny"},
		{"ask without approver", nil, newCall("bank/pay"), StageApprove, "approval.unavailable", "decision:deny"},
		{"audit write fails", func(c *Config, m *memSink) { m.Fail = errors.New("disk full") }, newCall("fs/read"), StageAudit, "audit.write_failed", ""},
		{"no audit sink", func(c *Config, m *memSink) { c.Audit = nil }, newCall("fs/read"), StageAudit, "audit.none", ""},
		{"mint fails", func(c *Config, m *memSink) { c.Mint = mintFunc(func() error { return mintErr }) }, newCall("fs/read"), StageCredential, "credential.mint_failed", "decision:deny"},
		// The minter's own code reaches the agent and the record (arguments
		// RFC 8785 cannot represent: credential.arguments, as documented).
		{"mint fails with a code", func(c *Config, m *memSink) {
			c.Mint = mintFunc(func() error { return Errorf("credential.arguments", "the per-call token cannot bind the arguments") })
		}, newCall("fs/read"), StageCredential, "credential.arguments", "decision:deny"},
		{"identity fails", func(c *Config, m *memSink) {
			c.Identify = identifyFunc(func() error { return Errorf("identity.expired", "token expired") })
		}, newCall("fs/read"), StageIdentify, "identity.expired", "decision:deny"},
		{"task token without tasks", nil, func() *call.Call { c := newCall("fs/read"); c.TaskToken = "x"; return c }(), StageTask, "task.unsupported", "decision:deny"},
		{"facts fail", func(c *Config, m *memSink) { c.Facts = factsFunc(func() error { return errors.New("parser crashed") }) }, newCall("fs/read"), StageFacts, "facts.failed", "decision:deny"},
		{"no policies", func(c *Config, m *memSink) { c.Policies = policy.NewStaticEngine() }, newCall("fs/read"), StageDecide, policy.CodeNoLayers, "decision:deny"},
		{"bad input", nil, func() *call.Call { c := newCall("fs/read"); c.Input = json.RawMessage(`{"a":`); return c }(), StageDecide, "input.invalid_json", "decision:deny"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &memSink{}
			cfg := Config{Policies: engine(t), Audit: sink}
			if tt.cfg != nil {
				tt.cfg(&cfg, sink)
			}
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			d := p.Execute(context.Background(), tt.call, sink.forward)
			if d.Effect != call.Deny || d.Stage != tt.stage {
				t.Fatalf("got %s at %s, want deny at %s: %+v", d.Effect, d.Stage, tt.stage, d)
			}
			if tt.code != "" {
				found := false
				for _, r := range d.Reasons {
					found = found || r.Code == tt.code
				}
				if !found {
					t.Fatalf("no reason with code %s: %+v", tt.code, d.Reasons)
				}
			}
			if d.ReasonText() == "" {
				t.Fatal("deny without a reason")
			}
			if got := strings.Join(sink.Events, " "); got != tt.events {
				t.Fatalf("events %q, want %q (the call must never be forwarded)", got, tt.events)
			}
		})
	}
}

func TestApproverCanAllowOnlyAsks(t *testing.T) {
	sink := &memSink{}
	approver := approveAll{}
	p, _ := New(Config{Policies: engine(t), Audit: sink, Approve: approver})
	if d := p.Execute(context.Background(), newCall("bank/pay"), sink.forward); d.Effect != call.Allow {
		t.Fatalf("approved ask: %+v", d)
	}
	// A deny never reaches the approver.
	if d := p.Execute(context.Background(), newCall("fs/write"), sink.forward); d.Effect != call.Deny {
		t.Fatalf("deny went to the approver: %+v", d)
	}
}

func TestDecideAuditsAndFailsClosed(t *testing.T) {
	sink := &memSink{}
	p, _ := New(Config{Policies: engine(t), Audit: sink})
	if d := p.Decide(context.Background(), newCall("bank/pay")); d.Effect != call.Ask || len(sink.Decisions) != 1 {
		t.Fatalf("%+v, %d records", d, len(sink.Decisions))
	}
	sink.Fail = errors.New("disk full")
	if d := p.Decide(context.Background(), newCall("fs/read")); d.Effect != call.Deny || d.Stage != StageAudit {
		t.Fatalf("%+v", d)
	}
}

func TestJSONLSinkEndToEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	sink, err := audit.OpenJSONLFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := New(Config{Policies: engine(t), Audit: sink})
	d := p.Execute(context.Background(), newCall("fs/read"), func(context.Context, *call.Call, *call.Credential) call.Outcome {
		return call.Outcome{Status: call.OutcomeToolError, Error: "no such file"}
	})
	if d.Effect != call.Allow {
		t.Fatal(d)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	// The file holds the decision and then its outcome, one JSON object a
	// line, for this call.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines in the file, want a decision and an outcome:\n%s", len(lines), b)
	}
	var dec audit.Record
	var out audit.OutcomeRecord
	if err := json.Unmarshal([]byte(lines[0]), &dec); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &out); err != nil {
		t.Fatal(err)
	}
	if dec.Type != "decision" || dec.DecisionID != d.ID || dec.Effect != call.Allow || dec.Server != "fs" || dec.Tool != "read" || dec.PolicyVersion == "" {
		t.Fatalf("decision record: %s", lines[0])
	}
	if out.Type != "outcome" || out.DecisionID != d.ID || out.Status != call.OutcomeToolError || out.Error != "no such file" {
		t.Fatalf("outcome record: %s", lines[1])
	}
}

func TestReachable(t *testing.T) {
	p, _ := New(Config{Policies: engine(t)})
	if ok, _ := p.Reachable(context.Background(), newCall("fs/read")); !ok {
		t.Fatal("fs/read should be reachable")
	}
	if ok, why := p.Reachable(context.Background(), newCall("fs/delete")); ok || why == "" {
		t.Fatal("fs/delete should not be reachable")
	}
}

type mintFunc func() error

func (f mintFunc) Mint(context.Context, *call.Call, *call.Decision) (*call.Credential, error) {
	return nil, f()
}

type identifyFunc func() error

func (f identifyFunc) Identify(context.Context, *call.Call) error { return f() }

type factsFunc func() error

func (f factsFunc) FindFacts(context.Context, *call.Call) error { return f() }

type approveAll struct{}

func (approveAll) Await(_ context.Context, _ *call.Call, d call.Decision) (call.Decision, error) {
	d.Effect = call.Allow
	d.Stage = StageApprove
	return d, nil
}

// endable is a context the test ends, with the error it chooses.
type endable struct {
	context.Context
	mu   sync.Mutex
	done chan struct{}
	err  error
}

func (e *endable) Done() <-chan struct{} { return e.done }

func (e *endable) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (e *endable) end(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.err = err
	close(e.done)
}

// countBudget is a budget of limit calls that counts refunds.
type countBudget struct {
	mu           sync.Mutex
	limit, spent int
	refunds      int
	err          error // what Spend returns, if set
}

func (b *countBudget) Spend(context.Context, *call.Call) (func(context.Context) error, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil, b.err
	}
	if b.spent >= b.limit {
		return nil, Errorf("task.budget_exhausted", "the task's budget of %d calls is spent", b.limit)
	}
	b.spent++
	return func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err // a store refuses an ended context
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.spent--
		b.refunds++
		return nil
	}, nil
}

func (b *countBudget) counts() (spent, refunds int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent, b.refunds
}

func TestBudgetSpentOnlyByAllowedCalls(t *testing.T) {
	sink := &memSink{}
	budget := &countBudget{limit: 1}
	p, _ := New(Config{Policies: engine(t), Audit: sink, Budget: budget})
	if d := p.Execute(context.Background(), newCall("fs/write"), sink.forward); d.Effect != call.Deny || budget.spent != 0 {
		t.Fatalf("denied call spent budget: %+v, spent %d", d, budget.spent)
	}
	if d := p.Execute(context.Background(), newCall("fs/read"), sink.forward); d.Effect != call.Allow || budget.spent != 1 {
		t.Fatalf("first call: %+v", d)
	}
	d := p.Execute(context.Background(), newCall("fs/read"), sink.forward)
	if d.Effect != call.Deny || d.Stage != StageTask || d.Reasons[0].Code != "task.budget_exhausted" {
		t.Fatalf("exhausted budget: %+v", d)
	}
}

// A unit is spent before the credential is minted and the decision
// recorded; a call that then does not run gives it back. (Fails on the old
// pipeline: a mint failure or an audit outage drained the budget.)
func TestBudgetReturnedWhenTheCallDoesNotRun(t *testing.T) {
	mintErr := errors.New("signer unavailable")
	tests := []struct {
		name    string
		cfg     func(*Config, *memSink)
		ctx     func() context.Context
		code    string // the denial's code; "" = allowed but not forwarded
		outcome string
	}{
		{"mint fails", func(c *Config, _ *memSink) { c.Mint = mintFunc(func() error { return mintErr }) }, context.Background, "credential.mint_failed", ""},
		{"audit fails", func(_ *Config, s *memSink) { s.Fail = errors.New("disk full") }, context.Background, "audit.write_failed", ""},
		{"ended before forwarding", func(c *Config, _ *memSink) {}, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, "", "not_forwarded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &memSink{}
			budget := &countBudget{limit: 5}
			cfg := Config{Policies: engine(t), Audit: sink, Budget: budget}
			tt.cfg(&cfg, sink)
			p, _ := New(cfg)
			forwarded := false
			d := p.Execute(tt.ctx(), newCall("fs/read"), func(context.Context, *call.Call, *call.Credential) call.Outcome {
				forwarded = true
				return call.Outcome{Status: call.OutcomeOK}
			})
			if forwarded {
				t.Fatal("the call was forwarded")
			}
			if tt.code != "" && (d.Effect != call.Deny || d.Reasons[0].Code != tt.code) {
				t.Fatalf("decision %+v, want deny %s", d, tt.code)
			}
			if spent, refunds := budget.counts(); spent != 0 || refunds != 1 {
				t.Fatalf("spent %d, refunds %d; want the unit given back", spent, refunds)
			}
			if tt.outcome != "" && (len(sink.Outcomes) != 1 || string(sink.Outcomes[0].Status) != tt.outcome) {
				t.Fatalf("outcomes %+v, want one %s", sink.Outcomes, tt.outcome)
			}
		})
	}
}

// The records of a call are written on a context its end cannot cancel:
// a client that cancels or a deadline that passes while the server works
// loses no record, and the outcome says how the call ended. (Fails on the
// old pipeline: the outcome was written on the call's ended context.)
func TestRecordsOutliveTheCall(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(context.Context) (context.Context, func())
		want call.OutcomeStatus
	}{
		{"cancelled", func(ctx context.Context) (context.Context, func()) {
			ctx, cancel := context.WithCancel(ctx)
			return ctx, cancel
		}, call.OutcomeCancelled},
		{"deadline", func(ctx context.Context) (context.Context, func()) {
			// The deadline passes while the server works: ended by the
			// test, so that no clock decides when.
			e := &endable{Context: ctx, done: make(chan struct{})}
			return e, func() { e.end(context.DeadlineExceeded) }
		}, call.OutcomeTimeout},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := &memSink{}
			p, _ := New(Config{Policies: engine(t), Audit: sink})
			ctx, end := tt.end(context.Background())
			d := p.Execute(ctx, newCall("fs/read"), func(ctx context.Context, _ *call.Call, _ *call.Credential) call.Outcome {
				end() // the client goes away while the server works
				<-ctx.Done()
				return call.Interrupted(ctx.Err(), "gave up")
			})
			if d.Effect != call.Allow {
				t.Fatalf("%+v", d)
			}
			if len(sink.Decisions) != 1 || len(sink.Outcomes) != 1 || sink.Outcomes[0].Status != tt.want || sink.Outcomes[0].DecisionID != d.ID {
				t.Fatalf("decisions %d, outcomes %+v; want one %s outcome", len(sink.Decisions), sink.Outcomes, tt.want)
			}
		})
	}
}
