package enforce

import (
	"context"
	"errors"
	"testing"

	"github.com/toolgate/toolgate/internal/call"
)

// settler stands in for the approval service (a double: the real one needs
// a store and a human); it settles every ask with its fixed answer.
type settler struct {
	NoApprover
	effect call.Effect
	err    error
}

func (s settler) Settle(_ context.Context, _ *call.Call, d call.Decision) (call.Decision, error) {
	d.Effect = s.effect
	return d, s.err
}

// TestDecideSettlesAsks: Decide lets a Settler settle an ask at once; an
// error or anything but allow/ask denies, and allow spends the budget.
func TestDecideSettlesAsks(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    settler
		want call.Effect
	}{
		{"approved", settler{effect: call.Allow}, call.Allow},
		{"still pending", settler{effect: call.Ask}, call.Ask},
		{"denied", settler{effect: call.Deny}, call.Deny},
		{"unknown effect", settler{effect: "maybe"}, call.Deny},
		{"error", settler{effect: call.Allow, err: errors.New("store down")}, call.Deny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &memSink{}
			budget := &countBudget{limit: 5}
			p, err := New(Config{Policies: engine(t), Approve: tc.s, Audit: sink, Budget: budget})
			if err != nil {
				t.Fatal(err)
			}
			d := p.Decide(context.Background(), newCall("bank/pay"))
			if d.Effect != tc.want {
				t.Fatalf("effect = %s, want %s (%+v)", d.Effect, tc.want, d)
			}
			if len(sink.Decisions) != 1 || sink.Decisions[0].Effect != tc.want {
				t.Fatalf("recorded %v", sink.Events)
			}
			// Only an allowed call spends a unit of the task's budget.
			if spent, _ := budget.counts(); (spent == 1) != (tc.want == call.Allow) {
				t.Fatalf("spent %d units for a %s", spent, tc.want)
			}
		})
	}
	// Without a Settler (NoApprover) the ask is returned as it is.
	p, _ := New(Config{Policies: engine(t)})
	if d := p.Decide(context.Background(), newCall("bank/pay")); d.Effect != call.Ask {
		t.Fatalf("no settler: %s", d.Effect)
	}
}
