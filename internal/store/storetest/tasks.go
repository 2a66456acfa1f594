package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

func mkTask(id, parent, root string, depth int, agent string, now time.Time) *store.Task {
	return &store.Task{ID: id, ParentID: parent, RootID: root, Depth: depth, Agent: agent, Owner: "alice",
		Purpose: "p", Scope: []byte(`{"tools":["fs/*"]}`), CreatedBy: "test", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// Tasks is the suite of store.Tasks.
func Tasks(t *testing.T, b Backend) {
	ctx := context.Background()
	t.Run("TreeAndRevocation", func(t *testing.T) {
		s := open(t, b)
		now := time.Now().UTC()
		// root → mid → leaf, and root → side; another tree for bob.
		for _, tk := range []*store.Task{
			mkTask("root", "", "root", 0, "orchestrator", now),
			mkTask("mid", "root", "root", 1, "researcher", now.Add(time.Second)),
			mkTask("leaf", "mid", "root", 2, "summariser", now.Add(2*time.Second)),
			mkTask("side", "root", "root", 1, "checker", now.Add(3*time.Second)),
			mkTask("other", "", "other", 0, "researcher", now.Add(4*time.Second)),
		} {
			if err := s.CreateTask(ctx, tk); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateTask(ctx, mkTask("root", "", "root", 0, "x", now)); err == nil {
			t.Fatal("duplicate id accepted")
		}
		got, err := s.Task(ctx, "leaf")
		if err != nil || got.ParentID != "mid" || got.Depth != 2 || string(got.Scope) != `{"tools":["fs/*"]}` ||
			!got.CreatedAt.Equal(now.Add(2*time.Second)) || got.Budget != nil || got.Revoked() {
			t.Fatalf("task: %+v %v", got, err)
		}
		if _, err := s.Task(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing task: %v", err)
		}

		// Revoking the middle hop revokes it and everything below, nothing
		// else; another replica sees it at once.
		ids, err := s.RevokeTask(ctx, "mid", "alice", "done", now)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{"leaf", "mid"}) {
			t.Fatalf("revoked %v", ids)
		}
		st, err := again(t, b, s).TaskStates(ctx, []string{"root", "mid", "leaf", "ghost"})
		if err != nil {
			t.Fatal(err)
		}
		if st["root"].Revoked || !st["mid"].Revoked || !st["leaf"].Revoked || st["mid"].RevokeReason != "done" || !st["leaf"].RevokedAt.Equal(now) {
			t.Fatalf("states %+v", st)
		}
		if _, ok := st["ghost"]; ok {
			t.Fatal("unknown task has a state")
		}
		if st, err := s.TaskStates(ctx, nil); err != nil || len(st) != 0 {
			t.Fatalf("no ids: %v %v", st, err)
		}
		leaf, _ := s.Task(ctx, "leaf")
		if leaf.RevokedVia != "mid" || leaf.RevokedBy != "alice" || !leaf.RevokedAt.Equal(now) {
			t.Fatalf("leaf revocation: %+v", leaf)
		}
		// Revoking again changes nothing.
		if ids, _ := s.RevokeTask(ctx, "mid", "bob", "again", now); len(ids) != 0 {
			t.Fatalf("revoked twice: %v", ids)
		}
		if _, err := s.RevokeTask(ctx, "ghost", "a", "r", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoke missing: %v", err)
		}

		// Revoking an agent revokes its tasks in every tree.
		ids, err = s.RevokeAgentTasks(ctx, "researcher", "admin", "compromised", now)
		if err != nil || !slices.Equal(ids, []string{"other"}) {
			t.Fatalf("agent revocation: %v %v", ids, err)
		}
		if o, _ := s.Task(ctx, "other"); o.RevokedVia != "agent:researcher" {
			t.Fatalf("agent revocation via %q", o.RevokedVia)
		}

		names := func(f store.TaskFilter) []string {
			t.Helper()
			ts, err := s.Tasks(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, tk := range ts {
				out = append(out, tk.ID)
			}
			return out
		}
		if got := names(store.TaskFilter{RootID: "root", Live: true, Now: now}); !slices.Equal(got, []string{"root", "side"}) {
			t.Fatalf("live tasks %v", got)
		}
		if got := names(store.TaskFilter{}); !slices.Equal(got, []string{"root", "mid", "leaf", "side", "other"}) {
			t.Fatalf("all tasks %v", got)
		}
		if got := names(store.TaskFilter{Agent: "researcher"}); !slices.Equal(got, []string{"mid", "other"}) {
			t.Fatalf("tasks of an agent %v", got)
		}
		if got := names(store.TaskFilter{Owner: "bob"}); len(got) != 0 {
			t.Fatalf("tasks of bob %v", got)
		}
		// Expired tasks are not live.
		if got := names(store.TaskFilter{Live: true, Now: now.Add(2 * time.Hour)}); len(got) != 0 {
			t.Fatalf("live after expiry %v", got)
		}
	})

	// A revocation racing with calls' checks on other handles: once it has
	// returned, every handle sees it.
	t.Run("RevocationSeenByEveryHandle", func(t *testing.T) {
		s := open(t, b)
		now := time.Now().UTC()
		s.CreateTask(ctx, mkTask("r", "", "r", 0, "a", now))
		s.CreateTask(ctx, mkTask("c", "r", "r", 1, "b", now))
		others := []Store{again(t, b, s), again(t, b, s)}
		if _, err := s.RevokeTask(ctx, "r", "op", "stop", now); err != nil {
			t.Fatal(err)
		}
		for i, o := range others {
			st, err := o.TaskStates(ctx, []string{"r", "c"})
			if err != nil || !st["r"].Revoked || !st["c"].Revoked {
				t.Fatalf("handle %d: %+v %v", i, st, err)
			}
		}
	})
}

// Budgets is the suite of store.Budgets.
func Budgets(t *testing.T, b Backend) {
	ctx := context.Background()
	t.Run("RefundGivesBack", func(t *testing.T) {
		s := open(t, b)
		total := store.BudgetCharge{TaskID: "r1", Limit: 1}
		tool := store.BudgetCharge{TaskID: "r1", Key: "k", Limit: 5}
		if err := s.SpendBudget(ctx, []store.BudgetCharge{total, tool}); err != nil {
			t.Fatal(err)
		}
		var be *store.BudgetExhaustedError
		if err := s.SpendBudget(ctx, []store.BudgetCharge{total, tool}); !errors.As(err, &be) {
			t.Fatalf("spent beyond the limit: %v", err)
		}
		if err := s.RefundBudget(ctx, []store.BudgetCharge{total, tool}); err != nil {
			t.Fatal(err)
		}
		if spent, _ := again(t, b, s).BudgetSpent(ctx, "r1"); spent[""] != 0 || spent["k"] != 0 {
			t.Fatalf("after the refund: %v", spent)
		}
		// The unit given back can be spent again.
		if err := s.SpendBudget(ctx, []store.BudgetCharge{total, tool}); err != nil {
			t.Fatal(err)
		}
		// A refund never goes below zero, nor makes rows for unknown tasks.
		if err := s.RefundBudget(ctx, []store.BudgetCharge{{TaskID: "never", Limit: 1}, total, total}); err != nil {
			t.Fatal(err)
		}
		if spent, _ := s.BudgetSpent(ctx, "r1"); spent[""] != 0 {
			t.Fatalf("below zero: %v", spent)
		}
		if spent, _ := s.BudgetSpent(ctx, "never"); len(spent) != 0 {
			t.Fatalf("a refund made a row: %v", spent)
		}
	})
	t.Run("SpendIsAtomic", func(t *testing.T) {
		s := open(t, b)
		total := store.BudgetCharge{TaskID: "t1", Limit: 3}
		tool := store.BudgetCharge{TaskID: "t1", Key: "fs/read_file", Limit: 1}
		if err := s.SpendBudget(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.SpendBudget(ctx, []store.BudgetCharge{total, tool}); err != nil {
			t.Fatal(err)
		}
		// The tool budget is used up: nothing is spent, not even the total.
		err := s.SpendBudget(ctx, []store.BudgetCharge{total, tool})
		var be *store.BudgetExhaustedError
		if !errors.As(err, &be) || be.Charge.Key != "fs/read_file" || be.Spent != 1 {
			t.Fatalf("exhausted tool budget: %v", err)
		}
		spent, _ := s.BudgetSpent(ctx, "t1")
		if len(spent) != 2 || spent[""] != 1 || spent["fs/read_file"] != 1 {
			t.Fatalf("spent %v", spent)
		}
		// The error names the first charge used up, in the caller's order.
		a := store.BudgetCharge{TaskID: "t3", Key: "z", Limit: 0}
		z := store.BudgetCharge{TaskID: "t3", Key: "a", Limit: 0}
		if err := s.SpendBudget(ctx, []store.BudgetCharge{a, z}); !errors.As(err, &be) || be.Charge.Key != "z" {
			t.Fatalf("first exhausted: %v", err)
		}
		// A charge listed twice spends twice.
		twice := store.BudgetCharge{TaskID: "t4", Limit: 3}
		if err := s.SpendBudget(ctx, []store.BudgetCharge{twice, twice}); err != nil {
			t.Fatal(err)
		}
		if err := s.SpendBudget(ctx, []store.BudgetCharge{twice, twice}); !errors.As(err, &be) || be.Spent != 3 {
			t.Fatalf("a charge listed twice: %v", err)
		}
		if spent, _ := again(t, b, s).BudgetSpent(ctx, "t4"); spent[""] != 2 {
			t.Fatalf("t4 spent %v", spent)
		}
		if spent, _ := s.BudgetSpent(ctx, "nobody"); len(spent) != 0 {
			t.Fatalf("spent of an unknown task %v", spent)
		}
	})

	// Concurrent spends on several handles (processes, replicas) never
	// overspend, and spends over the same budgets in opposite orders do
	// not deadlock.
	t.Run("ConcurrentSpendsNeverOverspend", func(t *testing.T) {
		s := open(t, b)
		handles := []Store{s, again(t, b, s), again(t, b, s)}
		total := store.BudgetCharge{TaskID: "t2", Limit: 7}
		tool := store.BudgetCharge{TaskID: "t2", Key: "bank/pay", Limit: 1000}
		var ok atomic.Int32
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				charges := []store.BudgetCharge{total, tool}
				if i%2 == 1 {
					charges = []store.BudgetCharge{tool, total}
				}
				err := handles[i%len(handles)].SpendBudget(ctx, charges)
				var exhausted *store.BudgetExhaustedError // one per goroutine: errors.As writes it
				switch {
				case err == nil:
					ok.Add(1)
				case !errors.As(err, &exhausted):
					t.Errorf("spend: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 7 {
			t.Fatalf("%d spends succeeded on a budget of 7", ok.Load())
		}
		if spent, _ := s.BudgetSpent(ctx, "t2"); spent[""] != 7 || spent["bank/pay"] != 7 {
			t.Fatalf("spent %v", spent)
		}
	})
}
