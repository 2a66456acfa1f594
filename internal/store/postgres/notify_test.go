package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// TestNotifications: a replica listening hears of approvals decided and
// documents changed on another; when its listening connection is killed it
// reconnects and says so (payload ""), since it may have missed some.
func TestNotifications(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtestDatabase(t)
	a, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan string, 16)
	b.Subscribe(ChannelApprovals, func(p string) { got <- "approval " + p })
	b.Subscribe(ChannelDocs, func(p string) { got <- "doc " + p })
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); b.Listen(ctx, ready) }()
	<-ready
	expect := func(want string) {
		t.Helper()
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("heard %q, want %q", g, want)
			}
		case <-time.After(30 * time.Second): // a guard against hanging, not a timing assertion
			t.Fatalf("never heard %q", want)
		}
	}

	now := time.Now()
	ap := &store.Approval{ID: "a1", Key: "k", SimilarKey: "s", Principal: `Agent::"x"`, Tool: "t/t", ArgsSHA256: "h",
		Call: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour), State: store.ApprovalPending}
	if err := a.CreateApproval(ctx, ap, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.DecideApproval(ctx, "a1", store.ApprovalDecision{State: store.ApprovalApproved, At: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	expect("approval a1")
	a.UpdateDoc(ctx, "pins/fs", func([]byte) ([]byte, error) { return []byte("{}"), nil })
	expect("doc pins/fs")
	a.UpdateDoc(ctx, "pins/fs", func([]byte) ([]byte, error) { return nil, nil }) // no change: no notification

	// Kill the listening connection: b reconnects and reports a gap.
	if _, err := a.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`); err != nil {
		t.Fatal(err)
	}
	gap := map[string]bool{}
	for range 2 {
		select {
		case g := <-got:
			gap[g] = true
		case <-time.After(30 * time.Second):
			t.Fatal("no reconnection reported")
		}
	}
	if !gap["approval "] || !gap["doc "] {
		t.Fatalf("after reconnecting: %v", gap)
	}
	a.UpdateDoc(ctx, "signing-keys", func([]byte) ([]byte, error) { return []byte("{}"), nil })
	expect("doc signing-keys")
	cancel()
	<-done
}
