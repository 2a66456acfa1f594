package postgres

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/testutil/pgtest"
)

// TestPartitionFailsOperations: when the database stops answering (a
// network partition: the connections stay open, nothing comes back), every
// operation a call depends on returns an error once the operation timeout
// passes, even under a context without a deadline: the call is denied, it
// does not hang. (Before, a history recall waited for as long as the
// caller's context, which for a call without a deadline was for ever.)
func TestPartitionFailsOperations(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Shared(t)
	url := srv.Database(t)
	mig, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mig.Close()
	link := srv.NewLink(t)
	db, err := Open(ctx, link.URL(url), Options{NoMigrate: true, OpTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	setup, cancel := context.WithTimeout(ctx, time.Minute) // not the short timeout under test
	defer cancel()
	if err := db.CreateTask(setup, &store.Task{ID: "t", RootID: "t", Agent: "a", Scope: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ap := &store.Approval{ID: "a1", Key: "k", SimilarKey: "s", Principal: `Agent::"a"`, Tool: "t/t", ArgsSHA256: "h",
		Call: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour), State: store.ApprovalPending}
	charge := []store.BudgetCharge{{TaskID: "t", Limit: 5}}
	ops := map[string]func() error{
		"TaskStates":   func() error { _, err := db.TaskStates(ctx, []string{"t"}); return err },
		"Task":         func() error { _, err := db.Task(ctx, "t"); return err },
		"SpendBudget":  func() error { return db.SpendBudget(ctx, charge) },
		"RefundBudget": func() error { return db.RefundBudget(ctx, charge) },
		"BudgetSpent":  func() error { _, err := db.BudgetSpent(ctx, "t"); return err },
		"ScanHistory": func() error {
			return db.ScanHistory(ctx, store.HistoryFilter{Key: "t"}, func(*store.HistoryEvent) error { return nil })
		},
		"AppendHistory": func() error {
			return db.AppendHistory(ctx, []store.HistoryEvent{{Time: now, Key: "t", Principal: "p", Origin: "o", Body: []byte("x")}})
		},
		"AppendAudit": func() error {
			return db.AppendAudit(ctx, func(store.AuditHead) (store.AuditBatch, error) { return store.AuditBatch{}, nil })
		},
		"CreateApproval": func() error { return db.CreateApproval(ctx, ap, 0) },
		"OpenApproval":   func() error { _, err := db.OpenApproval(ctx, "k", now); return err },
		"SimilarGrant":   func() error { _, err := db.SimilarGrant(ctx, "s", now); return err },
		"UseApproval":    func() error { _, err := db.UseApproval(ctx, "a1", "d", now); return err },
		"Doc":            func() error { _, err := db.Doc(ctx, "pins/x"); return err },
		"UpdateDoc": func() error {
			return db.UpdateDoc(ctx, "pins/x", func([]byte) ([]byte, error) { return []byte("{}"), nil })
		},
	}
	for _, name := range slices.Sorted(maps.Keys(ops)) {
		op := ops[name]
		// The worst case: the operation gets an established connection
		// (not a new one, whose connect timeout would end the wait).
		link.Mend()
		for tries := 0; db.pool.Ping(ctx) != nil; tries++ {
			if tries == 20 {
				t.Fatal("the pool does not reconnect after the link is mended")
			}
		}
		link.Cut()
		done := make(chan error, 1)
		go func() { done <- op() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s succeeded while the database does not answer", name)
			}
		case <-time.After(time.Minute): // a guard against hanging, not a timing assertion
			link.Reset() // so that it ends, and the pool can close
			<-done
			t.Errorf("%s hangs while the database does not answer", name)
		}
	}
}
