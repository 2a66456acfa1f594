package storetest

import (
	"context"
	"errors"
	"fmt"
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

// Approvals is the suite of store.Approvals.
func Approvals(t *testing.T, b Backend) {
	ctx := context.Background()

	// pending → decided once → used once, whoever races on whichever
	// handle; the open approval of a key is found; expired and closed ones
	// are not.
	t.Run("Lifecycle", func(t *testing.T) {
		s := open(t, b)
		now := time.Now()
		if err := s.CreateApproval(ctx, mkApproval("a1", "k1", now), 0); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateApproval(ctx, mkApproval("a1", "k1x", now), 0); err == nil {
			t.Fatal("a duplicate id was stored")
		}
		open, err := s.OpenApproval(ctx, "k1", now)
		if err != nil || open.ID != "a1" || open.State != store.ApprovalPending || !open.CreatedAt.Equal(now) || open.Principal != `Agent::"a"` {
			t.Fatalf("open = %+v, %v", open, err)
		}
		if _, err := s.OpenApproval(ctx, "k1", now.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an approval past its expiry is open: %v", err)
		}
		if ok, err := s.UseApproval(ctx, "a1", "d0", now); ok || err != nil {
			t.Fatalf("a pending approval was used: %v %v", ok, err)
		}
		handles := []Store{s, again(t, b, s), again(t, b, s)}

		// Three deciders on three handles race; one wins.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i, st := range []string{store.ApprovalApproved, store.ApprovalDenied, store.ApprovalApproved} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := handles[i].DecideApproval(ctx, "a1", store.ApprovalDecision{State: st, At: now.Add(time.Second), Approver: `User::"c"`,
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
		a, _ := handles[1].Approval(ctx, "a1")
		if a.Approver != `User::"c"` || !a.DecidedAt.Equal(now.Add(time.Second)) || !a.ExpiresAt.Equal(now.Add(2*time.Minute)) ||
			a.Channel != "api" || a.Comment != "ok" || a.Similar {
			t.Fatalf("decided = %+v", a)
		}
		// Used once, whoever races.
		wins.Store(0)
		var by atomic.Value
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := string(rune('p' + i))
				if ok, err := handles[i%3].UseApproval(ctx, "a1", id, now.Add(2*time.Second)); err != nil {
					t.Error(err)
				} else if ok {
					wins.Add(1)
					by.Store(id)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("used %d times", wins.Load())
		}
		if a, _ := s.Approval(ctx, "a1"); a.UsedBy != by.Load() || !a.UsedAt.Equal(now.Add(2*time.Second)) {
			t.Fatalf("used by %q at %v, want %v", a.UsedBy, a.UsedAt, by.Load())
		}
		if _, err := s.OpenApproval(ctx, "k1", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a used approval is still open: %v", err)
		}
		if err := s.DecideApproval(ctx, "nope", store.ApprovalDecision{State: store.ApprovalApproved, At: now}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deciding an unknown approval: %v", err)
		}
		if err := s.DecideApproval(ctx, "a1", store.ApprovalDecision{State: store.ApprovalExpired, At: now}); err == nil || errors.Is(err, store.ErrNotPending) {
			t.Fatalf("a closing state as a decision: %v", err)
		}

		// Expiry and cancellation close only pending approvals.
		s.CreateApproval(ctx, mkApproval("a2", "k2", now), 0)
		if ok, _ := s.CloseApproval(ctx, "a2", store.ApprovalExpired, now); !ok {
			t.Fatal("could not expire a pending approval")
		}
		if ok, _ := s.CloseApproval(ctx, "a2", store.ApprovalCancelled, now); ok {
			t.Fatal("closed an approval twice")
		}
		if _, err := s.CloseApproval(ctx, "a2", store.ApprovalApproved, now); err == nil {
			t.Fatal("closed with a decision's state")
		}
		if err := s.DecideApproval(ctx, "a2", store.ApprovalDecision{State: store.ApprovalApproved, At: now}); !errors.Is(err, store.ErrNotPending) {
			t.Fatalf("decided an expired approval: %v", err)
		}
		// A pending approval past its deadline cannot be decided either.
		s.CreateApproval(ctx, mkApproval("a3", "k3", now), 0)
		if err := s.DecideApproval(ctx, "a3", store.ApprovalDecision{State: store.ApprovalApproved, At: now.Add(time.Minute)}); !errors.Is(err, store.ErrNotPending) {
			t.Fatalf("decided an approval after its deadline: %v", err)
		}

		list, err := s.Approvals(ctx, store.ApprovalFilter{State: store.ApprovalPending})
		if err != nil || len(list) != 1 || list[0].ID != "a3" {
			t.Fatalf("pending = %v, %v", list, err)
		}
		if all, _ := s.Approvals(ctx, store.ApprovalFilter{Limit: 2}); len(all) != 2 {
			t.Fatalf("limit: %d", len(all))
		}
		if mine, _ := s.Approvals(ctx, store.ApprovalFilter{Principal: `Agent::"a"`, TaskID: ""}); len(mine) != 3 {
			t.Fatalf("by principal: %d", len(mine))
		}
		if none, _ := s.Approvals(ctx, store.ApprovalFilter{TaskID: "t"}); len(none) != 0 {
			t.Fatalf("by task: %d", len(none))
		}
	})

	// An approval given for similar calls is found by its similar key and
	// used by every call, on every handle, until it expires.
	t.Run("SimilarGrant", func(t *testing.T) {
		s := open(t, b)
		now := time.Now()
		s.CreateApproval(ctx, mkApproval("s1", "k", now), 0)
		if _, err := s.SimilarGrant(ctx, "sim-k", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a pending approval is a grant: %v", err)
		}
		if err := s.DecideApproval(ctx, "s1", store.ApprovalDecision{State: store.ApprovalApproved, At: now, Similar: true, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		s2 := again(t, b, s)
		g, err := s2.SimilarGrant(ctx, "sim-k", now.Add(time.Minute))
		if err != nil || g.ID != "s1" || !g.Similar {
			t.Fatalf("grant = %+v, %v", g, err)
		}
		for i, h := range []Store{s, s2, s} {
			if ok, err := h.UseApproval(ctx, "s1", "d", now.Add(time.Minute)); !ok || err != nil {
				t.Fatalf("use %d of a similar grant: %v %v", i, ok, err)
			}
		}
		if _, err := s.SimilarGrant(ctx, "sim-k", now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an expired grant: %v", err)
		}
		if ok, _ := s.UseApproval(ctx, "s1", "d", now.Add(time.Hour)); ok {
			t.Fatal("an expired grant was used")
		}
	})

	// One open approval per key, and at most maxPending pending approvals
	// per principal, however many creators race on however many handles.
	t.Run("CreateOnePerKeyCapped", func(t *testing.T) {
		s := open(t, b)
		now := time.Now()
		handles := []Store{s, again(t, b, s), again(t, b, s)}
		start := make(chan struct{})
		var stored, open, other atomic.Int32
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := handles[i%3].CreateApproval(ctx, mkApproval(fmt.Sprintf("same%d", i), "same", now), 0)
				switch {
				case err == nil:
					stored.Add(1)
				case errors.Is(err, store.ErrApprovalOpen):
					open.Add(1)
				default:
					other.Add(1)
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if stored.Load() != 1 || open.Load() != 11 {
			t.Fatalf("12 identical creates: %d stored, %d refused as open, %d failed", stored.Load(), open.Load(), other.Load())
		}
		// Once the open one is used, the key is free again.
		a, err := s.OpenApproval(ctx, "same", now)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.DecideApproval(ctx, a.ID, store.ApprovalDecision{State: store.ApprovalApproved, At: now, ExpiresAt: now.Add(time.Minute)})
		if ok, _ := s.UseApproval(ctx, a.ID, "d", now); !ok {
			t.Fatal("could not use the approval")
		}
		if err := s.CreateApproval(ctx, mkApproval("same-again", "same", now), 0); err != nil {
			t.Fatalf("a used approval still blocks its key: %v", err)
		}

		// The cap: another principal, 20 different calls at once, at most 5.
		stored.Store(0)
		var capped atomic.Int32
		start = make(chan struct{})
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := mkApproval(fmt.Sprintf("cap%d", i), fmt.Sprintf("cap-key-%d", i), now)
				a.Principal = `Agent::"flood"`
				<-start
				err := handles[i%3].CreateApproval(ctx, a, 5)
				switch {
				case err == nil:
					stored.Add(1)
				case errors.Is(err, store.ErrTooManyPending):
					capped.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if stored.Load() != 5 || capped.Load() != 15 {
			t.Fatalf("20 creates under a cap of 5: %d stored, %d capped", stored.Load(), capped.Load())
		}
		// Other principals are not affected; an answered, closed or
		// expired approval no longer counts.
		if err := s.CreateApproval(ctx, mkApproval("other", "other-key", now), 5); err != nil {
			t.Fatalf("another principal: %v", err)
		}
		flood, _ := s.Approvals(ctx, store.ApprovalFilter{Principal: `Agent::"flood"`})
		if _, err := s.CloseApproval(ctx, flood[0].ID, store.ApprovalCancelled, now); err != nil {
			t.Fatal(err)
		}
		next := mkApproval("cap-next", "cap-next", now)
		next.Principal = `Agent::"flood"`
		if err := s.CreateApproval(ctx, next, 5); err != nil {
			t.Fatalf("after one was closed: %v", err)
		}
		later := mkApproval("cap-later", "cap-later", now.Add(time.Minute))
		later.Principal = `Agent::"flood"`
		if err := s.CreateApproval(ctx, later, 5); err != nil {
			t.Fatalf("after the others expired: %v", err)
		}
	})
}
