package sqlite

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

func mkApproval(id, key string, now time.Time) *store.Approval {
	return &store.Approval{ID: id, Key: key, SimilarKey: "sim-" + key, Principal: `Agent::"a"`, Tool: "bank/pay",
		ArgsSHA256: "ab", Call: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Minute), State: store.ApprovalPending}
}

// TestApprovalLifecycle: pending → decided once → used once; the open
// approval of a key is found; expired and closed ones are not.
func TestApprovalLifecycle(t *testing.T) {
	db, path := openTest(t)
	ctx := context.Background()
	now := time.Now()
	if err := db.CreateApproval(ctx, mkApproval("a1", "k1", now)); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateApproval(ctx, mkApproval("a1", "k1", now)); err == nil {
		t.Fatal("a duplicate id was stored")
	}
	open, err := db.OpenApproval(ctx, "k1", now)
	if err != nil || open.ID != "a1" || open.State != store.ApprovalPending {
		t.Fatalf("open = %+v, %v", open, err)
	}
	if _, err := db.OpenApproval(ctx, "k1", now.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an approval past its expiry is open: %v", err)
	}
	if ok, err := db.UseApproval(ctx, "a1", "d0", now); ok || err != nil {
		t.Fatalf("a pending approval was used: %v %v", ok, err)
	}
	// Survives reopening the database.
	db.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Two deciders race; one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i, st := range []string{store.ApprovalApproved, store.ApprovalDenied, store.ApprovalApproved} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.DecideApproval(ctx, "a1", store.ApprovalDecision{State: st, At: now.Add(time.Second), Approver: `User::"c"`,
				Channel: "api", Comment: "ok", ExpiresAt: now.Add(2 * time.Minute)})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrNotPending):
				t.Errorf("decider %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d deciders won", wins.Load())
	}
	a, _ := db.Approval(ctx, "a1")
	if a.Approver != `User::"c"` || a.DecidedAt.IsZero() || !a.ExpiresAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("decided = %+v", a)
	}
	// Used once, whoever races.
	wins.Store(0)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := db.UseApproval(ctx, "a1", "d", now.Add(2*time.Second)); err != nil {
				t.Error(err)
			} else if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("used %d times", wins.Load())
	}
	if _, err := db.OpenApproval(ctx, "k1", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a used approval is still open: %v", err)
	}
	if err := db.DecideApproval(ctx, "nope", store.ApprovalDecision{State: store.ApprovalApproved, At: now}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deciding an unknown approval: %v", err)
	}

	// Expiry and cancellation close only pending approvals.
	db.CreateApproval(ctx, mkApproval("a2", "k2", now))
	if ok, _ := db.CloseApproval(ctx, "a2", store.ApprovalExpired, now); !ok {
		t.Fatal("could not expire a pending approval")
	}
	if ok, _ := db.CloseApproval(ctx, "a2", store.ApprovalCancelled, now); ok {
		t.Fatal("closed an approval twice")
	}
	if err := db.DecideApproval(ctx, "a2", store.ApprovalDecision{State: store.ApprovalApproved, At: now}); !errors.Is(err, store.ErrNotPending) {
		t.Fatalf("decided an expired approval: %v", err)
	}
	// A pending approval past its deadline cannot be decided either.
	db.CreateApproval(ctx, mkApproval("a3", "k3", now))
	if err := db.DecideApproval(ctx, "a3", store.ApprovalDecision{State: store.ApprovalApproved, At: now.Add(time.Minute)}); !errors.Is(err, store.ErrNotPending) {
		t.Fatalf("decided an approval after its deadline: %v", err)
	}

	list, err := db.Approvals(ctx, store.ApprovalFilter{State: store.ApprovalPending})
	if err != nil || len(list) != 1 || list[0].ID != "a3" {
		t.Fatalf("pending = %v, %v", list, err)
	}
	if all, _ := db.Approvals(ctx, store.ApprovalFilter{Limit: 2}); len(all) != 2 {
		t.Fatalf("limit: %d", len(all))
	}
}

// TestSimilarGrant: an approval given for similar calls is found by its
// similar key and used by every call until it expires.
func TestSimilarGrant(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	db.CreateApproval(ctx, mkApproval("s1", "k", now))
	if _, err := db.SimilarGrant(ctx, "sim-k", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a pending approval is a grant: %v", err)
	}
	if err := db.DecideApproval(ctx, "s1", store.ApprovalDecision{State: store.ApprovalApproved, At: now, Similar: true, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	g, err := db.SimilarGrant(ctx, "sim-k", now.Add(time.Minute))
	if err != nil || g.ID != "s1" || !g.Similar {
		t.Fatalf("grant = %+v, %v", g, err)
	}
	for i := 0; i < 3; i++ {
		if ok, err := db.UseApproval(ctx, "s1", "d", now.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("use %d of a similar grant: %v %v", i, ok, err)
		}
	}
	if _, err := db.SimilarGrant(ctx, "sim-k", now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired grant: %v", err)
	}
}
