package approval

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/call"
)

// TestProgressWhileWaiting: a call that waits for a person tells its
// client at once (with the approval's id) and then on every tick of
// approvals.progress_interval, counting up; nothing once the call is
// answered. The test approves after a number of notifications it chose,
// not after a time. (On the old code no progress was ever sent.)
func TestProgressWhileWaiting(t *testing.T) {
	e := newEnv(t, Config{ProgressInterval: 10 * time.Millisecond})
	type note struct {
		n   int
		msg string
	}
	notes := make(chan note, 1000)
	ctx := WithProgress(context.Background(), func(n int, msg string) { notes <- note{n, msg} })
	out := make(chan call.Decision, 1)
	go func() {
		out <- e.pipe.Execute(ctx, payCall(42), func(context.Context, *call.Call, *call.Credential) call.Outcome {
			return call.Outcome{Status: call.OutcomeOK}
		})
	}()
	first := <-notes
	p := e.pending(t)
	if first.n != 1 || !strings.Contains(first.msg, "approval "+p.ID) {
		t.Fatalf("first progress: %+v (approval %s)", first, p.ID)
	}
	for want := 2; want <= 5; want++ {
		if got := <-notes; got.n != want {
			t.Fatalf("progress %d, want %d", got.n, want)
		}
	}
	if _, err := e.svc.Decide(context.Background(), p.ID, carol, Answer{Approve: true}); err != nil {
		t.Fatal(err)
	}
	if d := <-out; d.Effect != call.Allow {
		t.Fatalf("%+v", d)
	}
	// Execute has returned: whatever was sent is in the channel, and
	// nothing comes after.
	last := 5
	for len(notes) > 0 {
		if got := <-notes; got.n != last+1 {
			t.Fatalf("progress %d after %d", got.n, last)
		}
		last++
	}
	select {
	case n := <-notes:
		t.Fatalf("progress after the answer: %+v", n)
	default:
	}
}

// TestNoProgressWithoutAToken: a call whose client gave no progress token
// (no WithProgress) still waits and is answered as before.
func TestNoProgressWithoutAToken(t *testing.T) {
	e := newEnv(t, Config{ProgressInterval: 10 * time.Millisecond})
	out, ran := e.execute(payCall(43))
	p := e.pending(t)
	if _, err := e.svc.Decide(context.Background(), p.ID, carol, Answer{}); err != nil {
		t.Fatal(err)
	}
	if d := <-out; d.Effect != call.Deny || *ran != 0 {
		t.Fatalf("%+v", d)
	}
}

// TestUnansweredNamesItsApproval: a call whose wait ends without an
// answer (the request's time limit, the client gone, the approval expired
// or cancelled) is denied with a reason that names the approval, in
// words and in its approval member, so that an agent can call again once
// it is approved. (On the old code the id was only in the words.)
func TestUnansweredNamesItsApproval(t *testing.T) {
	e := newEnv(t, Config{})
	ctx, end := deadlineContext()
	out := make(chan call.Decision, 1)
	go func() { out <- e.pipe.Execute(ctx, payCall(12), nil) }()
	p := e.pending(t)
	end()
	d := <-out
	r := d.Reasons[len(d.Reasons)-1]
	if d.Effect != call.Deny || r.Code != CodeTimeout || r.Approval != p.ID ||
		!strings.Contains(r.Message, "once it is approved, make the same call again") {
		t.Fatalf("%+v", d)
	}

	e = newEnv(t, Config{OnDisconnect: Cancel})
	cctx, cancel := context.WithCancel(context.Background())
	go func() { out <- e.pipe.Execute(cctx, payCall(13), nil) }()
	p = e.pending(t)
	cancel()
	d = <-out
	if r := d.Reasons[len(d.Reasons)-1]; r.Code != CodeCancelled || r.Approval != p.ID {
		t.Fatalf("%+v", d)
	}
}
