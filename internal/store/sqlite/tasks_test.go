package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func mkTask(id, parent, root string, depth int, agent string, now time.Time) *store.Task {
	return &store.Task{ID: id, ParentID: parent, RootID: root, Depth: depth, Agent: agent, Owner: "alice",
		Purpose: "p", Scope: []byte(`{"tools":["fs/*"]}`), CreatedBy: "test", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

func TestTasksTreeAndRevocation(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC()
	// root → mid → leaf, and root → side; another tree for bob.
	for _, tk := range []*store.Task{
		mkTask("root", "", "root", 0, "orchestrator", now),
		mkTask("mid", "root", "root", 1, "researcher", now.Add(time.Second)),
		mkTask("leaf", "mid", "root", 2, "summariser", now.Add(2*time.Second)),
		mkTask("side", "root", "root", 1, "checker", now.Add(3*time.Second)),
		mkTask("other", "", "other", 0, "researcher", now.Add(4*time.Second)),
	} {
		if err := db.CreateTask(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateTask(ctx, mkTask("root", "", "root", 0, "x", now)); err == nil {
		t.Fatal("duplicate id accepted")
	}
	got, err := db.Task(ctx, "leaf")
	if err != nil || got.ParentID != "mid" || got.Depth != 2 || string(got.Scope) != `{"tools":["fs/*"]}` || !got.CreatedAt.Equal(now.Add(2*time.Second)) {
		t.Fatalf("task: %+v %v", got, err)
	}
	if _, err := db.Task(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing task: %v", err)
	}

	// Revoking the middle hop revokes it and everything below, nothing else.
	ids, err := db.RevokeTask(ctx, "mid", "alice", "done", now)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"leaf", "mid"}) {
		t.Fatalf("revoked %v", ids)
	}
	st, err := db.TaskStates(ctx, []string{"root", "mid", "leaf", "ghost"})
	if err != nil {
		t.Fatal(err)
	}
	if st["root"].Revoked || !st["mid"].Revoked || !st["leaf"].Revoked || st["mid"].RevokeReason != "done" {
		t.Fatalf("states %+v", st)
	}
	if _, ok := st["ghost"]; ok {
		t.Fatal("unknown task has a state")
	}
	leaf, _ := db.Task(ctx, "leaf")
	if leaf.RevokedVia != "mid" || leaf.RevokedBy != "alice" {
		t.Fatalf("leaf revocation: %+v", leaf)
	}
	// Revoking again changes nothing.
	if ids, _ := db.RevokeTask(ctx, "mid", "bob", "again", now); len(ids) != 0 {
		t.Fatalf("revoked twice: %v", ids)
	}
	if _, err := db.RevokeTask(ctx, "ghost", "a", "r", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke missing: %v", err)
	}

	// Revoking an agent revokes its tasks in every tree.
	ids, err = db.RevokeAgentTasks(ctx, "researcher", "admin", "compromised", now)
	if err != nil || !slices.Equal(ids, []string{"other"}) {
		t.Fatalf("agent revocation: %v %v", ids, err)
	}

	live, err := db.Tasks(ctx, store.TaskFilter{RootID: "root", Live: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tk := range live {
		names = append(names, tk.ID)
	}
	if !slices.Equal(names, []string{"root", "side"}) {
		t.Fatalf("live tasks %v", names)
	}
}

func TestBudgetSpendIsAtomic(t *testing.T) {
	db, path := openTest(t)
	ctx := context.Background()
	total := store.BudgetCharge{TaskID: "t1", Limit: 3}
	tool := store.BudgetCharge{TaskID: "t1", Key: "fs/read_file", Limit: 1}
	if err := db.SpendBudget(ctx, []store.BudgetCharge{total, tool}); err != nil {
		t.Fatal(err)
	}
	// The tool budget is used up: nothing is spent, not even the total.
	err := db.SpendBudget(ctx, []store.BudgetCharge{total, tool})
	var be *store.BudgetExhaustedError
	if !errors.As(err, &be) || be.Charge.Key != "fs/read_file" || be.Spent != 1 {
		t.Fatalf("exhausted tool budget: %v", err)
	}
	spent, _ := db.BudgetSpent(ctx, "t1")
	if spent[""] != 1 || spent["fs/read_file"] != 1 {
		t.Fatalf("spent %v", spent)
	}

	// Concurrent spends from two connections pools (as two processes would)
	// never overspend.
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	limit := store.BudgetCharge{TaskID: "t2", Limit: 7}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := db
			if i%2 == 1 {
				d = db2
			}
			err := d.SpendBudget(ctx, []store.BudgetCharge{limit})
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
}
