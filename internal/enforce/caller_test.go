package enforce

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/toolgate/toolgate/internal/audit/audittest"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/policy"
)

// countingSettler counts the asks that reach the approve stage: an ask
// there may make a pending approval.
type countingSettler struct{ n atomic.Int32 }

func (s *countingSettler) Await(_ context.Context, _ *call.Call, d call.Decision) (call.Decision, error) {
	return d, nil
}

func (s *countingSettler) Settle(_ context.Context, _ *call.Call, d call.Decision) (call.Decision, error) {
	s.n.Add(1)
	return d, nil
}

// TestCallerNeedsEvaluate: an authenticated caller asks about its own
// calls freely; about another principal's only where a policy that names
// Action::"Evaluate" permits it. Denied asks reach no later stage (no
// approval is made), and every decision records the caller.
func TestCallerNeedsEvaluate(t *testing.T) {
	const org = `
@id("all") permit(principal, action, resource);
@id("approve-pay") @approval("payments need a human") forbid(principal, action == Action::"bank/pay", resource);
@id("pep-for-customers")
permit(principal == Agent::"pep", action == Action::"Evaluate", resource in Group::"customers")
when { context.server == "bank" };
@id("not-for-admins")
forbid(principal, action == Action::"Evaluate", resource in Group::"admins");
@id("errs") forbid(principal == Agent::"broken", action == Action::"Evaluate", resource) when { context.nope };
@id("evaluate-any") permit(principal == Agent::"broken", action == Action::"Evaluate", resource);
`
	set, err := policy.NewSet("org", []policy.Source{{Name: "org.cedar", Text: []byte(org)}})
	if err != nil {
		t.Fatal(err)
	}
	sink := &audittest.Sink{}
	settle := &countingSettler{}
	p, err := New(Config{Policies: policy.NewStaticEngine(set), Audit: sink, Approve: settle})
	if err != nil {
		t.Fatal(err)
	}
	agent := func(id string, groups ...string) call.Principal {
		return call.Principal{Kind: call.KindAgent, ID: id, Groups: groups}
	}
	user := func(id string, groups ...string) call.Principal {
		return call.Principal{Kind: call.KindUser, ID: id, Groups: groups}
	}
	for _, tc := range []struct {
		name            string
		caller, subject call.Principal
		tool            string
		allowed         bool
	}{
		{"itself", agent("bot"), agent("bot"), "bank/pay", true},
		{"another agent", agent("bot"), agent("other"), "bank/pay", false},
		{"a user of the same id", agent("bot"), user("bot"), "bank/pay", false},
		{"a person, by a blanket permit", agent("bot"), user("carol", "customers"), "bank/pay", false},
		{"the PEP, for a customer", agent("pep"), user("carol", "customers"), "bank/pay", true},
		{"the PEP, for someone else", agent("pep"), user("dave"), "bank/pay", false},
		{"the PEP, another server", agent("pep"), user("carol", "customers"), "fs/read", false},
		{"the PEP, for an admin customer", agent("pep"), user("eve", "customers", "admins"), "bank/pay", false},
		{"a forbid that errors", agent("broken"), user("carol"), "bank/pay", false},
		{"a user for an agent", user("carol"), agent("bot"), "bank/pay", false},
	} {
		before := settle.n.Load()
		c := newCall(tc.tool)
		c.Principal = tc.subject
		caller := tc.caller
		c.Caller = &caller
		d := p.Decide(context.Background(), c)
		rec := sink.Decisions[len(sink.Decisions)-1]
		if rec.Caller == nil || rec.Caller.ID != tc.caller.ID || rec.Caller.Kind != string(tc.caller.Kind) || rec.Principal.ID != tc.subject.ID {
			t.Errorf("%s: the record names caller %+v and principal %+v", tc.name, rec.Caller, rec.Principal)
		}
		if tc.allowed {
			if d.Effect == call.Deny {
				t.Errorf("%s: denied: %s", tc.name, d.ReasonText())
			}
			continue
		}
		if d.Effect != call.Deny || d.Stage != StageIdentify || d.Reasons[0].Code != CodeOnBehalf ||
			!strings.Contains(d.ReasonText(), "may not ask about the calls of") {
			t.Errorf("%s: %+v", tc.name, d)
		}
		if settle.n.Load() != before {
			t.Errorf("%s: a denied ask reached the approve stage", tc.name)
		}
	}
	// Without an authenticated caller the subject is judged as stated.
	c := newCall("fs/read")
	if d := p.Decide(context.Background(), c); d.Effect != call.Allow || sink.Decisions[len(sink.Decisions)-1].Caller != nil {
		t.Errorf("no caller: %+v", d)
	}
}
