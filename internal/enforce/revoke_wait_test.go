package enforce

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/policy"
)

// revocableTask is a task stage whose task is live until revoke is set
// (a test double for the task service: the store's state is the flag).
type revocableTask struct{ revoked atomic.Bool }

func (r *revocableTask) ResolveTask(context.Context, *call.Call) ([]*policy.Set, error) {
	if r.revoked.Load() {
		return nil, Errorf("task.revoked", "task t1 was revoked")
	}
	return nil, nil
}

// revokeThenApprove is a person who approves the call after its task was
// revoked (the revocation lands while the call waits).
type revokeThenApprove struct{ task *revocableTask }

func (a revokeThenApprove) Await(_ context.Context, _ *call.Call, d call.Decision) (call.Decision, error) {
	a.task.revoked.Store(true)
	d.Effect = call.Allow
	d.Stage = StageApprove
	return d, nil
}

// TestRevokedWhileAwaitingApproval: an approval given after the call's
// task was revoked does not let the call run; the decision names the
// revocation. (Before, the task's state was read only before the wait.)
func TestRevokedWhileAwaitingApproval(t *testing.T) {
	sink := &memSink{}
	task := &revocableTask{}
	p, err := New(Config{Policies: engine(t), Audit: sink, Task: task, Approve: revokeThenApprove{task}})
	if err != nil {
		t.Fatal(err)
	}
	c := newCall("bank/pay")
	c.TaskToken = "token of t1"
	d := p.Execute(context.Background(), c, sink.forward)
	if d.Effect != call.Deny || d.Stage != StageTask || len(d.Reasons) == 0 || d.Reasons[0].Code != "task.revoked" {
		t.Fatalf("decision %+v", d)
	}
	if got := strings.Join(sink.Events, " "); strings.Contains(got, "forward") || got != "decision:deny" {
		t.Fatalf("events %q", got)
	}

	// A call without a task is not affected.
	task.revoked.Store(false)
	sink2 := &memSink{}
	p2, _ := New(Config{Policies: engine(t), Audit: sink2, Task: task, Approve: approveAll{}})
	if d := p2.Execute(context.Background(), newCall("bank/pay"), sink2.forward); d.Effect != call.Allow {
		t.Fatalf("a call without a task: %+v", d)
	}
}
