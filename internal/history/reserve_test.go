package history

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/call"
)

// limitConfig is "at most 1 payment an hour": a policy forbids a call when
// pays_1h > 1.
func limitConfig() Config {
	return Config{Windows: map[string]Window{
		"pays_1h":  {Op: "count", Actions: []string{"bank/pay"}, Within: time.Hour, IncludeCurrent: true},
		"paid_1h":  {Op: "sum", Actions: []string{"bank/pay"}, Field: "amount", Within: time.Hour, IncludeCurrent: true},
		"paid_yet": {Op: "formerly", Actions: []string{"bank/pay"}, Within: time.Hour},
	}}
}

func payCall(h *harness) *call.Call {
	return h.mk(callSpec{server: "bank", tool: "pay", task: "t", input: `{"amount":5}`})
}

// sideBySide judges n payments of task t at once, spread over the stages,
// each as the pipeline would: Reserve, then Admit if the policy (pays_1h >
// 1 is denied) allows it, else Release. It returns how many ran.
func sideBySide(t *testing.T, n int, hs ...*harness) int {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	for i := 0; i < n; i++ {
		h := hs[i%len(hs)]
		c := payCall(h)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := h.s.Reserve(context.Background(), c); err != nil {
				t.Error(err)
				return
			}
			if c.Windows["pays_1h"].(int64) > 1 {
				h.s.Release(context.Background(), c)
				return
			}
			h.s.Admit(context.Background(), c)
			mu.Lock()
			ran++
			mu.Unlock()
			if err := h.s.Observe(context.Background(), c, &call.Outcome{Status: call.OutcomeOK}); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return ran
}

// TestReserveSideBySide: ten payments sent at once under "at most 1 an
// hour" run exactly once, in one process (memory only, and with a store)
// and across two processes of one data directory. Before calls held their
// place when judged, all ten saw an empty window and ran.
func TestReserveSideBySide(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		h := newHarness(t, limitConfig(), Options{})
		if ran := sideBySide(t, 10, h); ran != 1 {
			t.Fatalf("%d of 10 payments ran under a limit of 1", ran)
		}
	})
	t.Run("store", func(t *testing.T) {
		dir := t.TempDir()
		db := openDB(t, dir)
		defer db.Close()
		h := newHarness(t, limitConfig(), Options{Store: db, Dir: dir})
		if ran := sideBySide(t, 10, h); ran != 1 {
			t.Fatalf("%d of 10 payments ran under a limit of 1", ran)
		}
	})
	t.Run("two processes", func(t *testing.T) {
		dir := t.TempDir()
		db1, db2 := openDB(t, dir), openDB(t, dir)
		defer db1.Close()
		defer db2.Close()
		a := newHarness(t, limitConfig(), Options{Store: db1, Dir: dir})
		b := newHarness(t, limitConfig(), Options{Store: db2, Dir: dir})
		// Both know the task already (its scope is loaded), as processes
		// that served it before.
		a.recall(callSpec{server: "x", tool: "y", task: "t"})
		b.recall(callSpec{server: "x", tool: "y", task: "t"})
		if ran := sideBySide(t, 10, a, b); ran != 1 {
			t.Fatalf("%d of 10 payments ran under a limit of 1", ran)
		}
		// And the one that ran counts in both for the rest of the hour,
		// once the releases of the others are stored (until then they
		// still count in the other process: the safe side).
		for _, h := range []*harness{a, b} {
			if err := h.s.w.flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range []*harness{a, b} {
			c := h.recall(callSpec{server: "bank", tool: "pay", task: "t", input: `{"amount":5}`})
			if c.Windows["pays_1h"] != int64(2) || c.Windows["paid_1h"] != int64(10) || c.Windows["paid_yet"] != true {
				t.Fatalf("after the side-by-side calls: %v", c.Windows)
			}
		}
	})
}

// TestReserveReleaseAndAdmit: a held call counts in count and sum windows
// (not in formerly) until it is released; once admitted it counts for good.
func TestReserveReleaseAndAdmit(t *testing.T) {
	dir := t.TempDir()
	db1, db2 := openDB(t, dir), openDB(t, dir)
	defer db1.Close()
	defer db2.Close()
	a := newHarness(t, limitConfig(), Options{Store: db1, Dir: dir})
	b := newHarness(t, limitConfig(), Options{Store: db2, Dir: dir})
	ctx := context.Background()
	first := payCall(a)
	if err := a.s.Reserve(ctx, first); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*harness{"same process": a, "other process": b} {
		c := h.recall(callSpec{server: "bank", tool: "pay", task: "t", input: `{"amount":7}`})
		if c.Windows["pays_1h"] != int64(2) || c.Windows["paid_1h"] != int64(12) || c.Windows["paid_yet"] != false {
			t.Fatalf("%s, while the first payment is held: %v", name, c.Windows)
		}
	}
	a.s.Release(ctx, first)
	a.s.Release(ctx, first) // twice is once
	if err := a.s.w.flush(ctx); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*harness{"same process": a, "other process": b} {
		c := h.recall(callSpec{server: "bank", tool: "pay", task: "t", input: `{"amount":7}`})
		if c.Windows["pays_1h"] != int64(1) || c.Windows["paid_1h"] != int64(7) {
			t.Fatalf("%s, after the release: %v", name, c.Windows)
		}
	}
	second := payCall(b)
	if err := b.s.Reserve(ctx, second); err != nil {
		t.Fatal(err)
	}
	b.s.Admit(ctx, second)
	if err := b.s.Observe(ctx, second, &call.Outcome{}); err != nil {
		t.Fatal(err)
	}
	if err := b.s.w.flush(ctx); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*harness{"same process": b, "other process": a} {
		c := h.recall(callSpec{server: "bank", tool: "pay", task: "t", input: `{"amount":7}`})
		if c.Windows["pays_1h"] != int64(2) || c.Windows["paid_1h"] != int64(12) || c.Windows["paid_yet"] != true {
			t.Fatalf("%s, after the admitted payment: %v", name, c.Windows)
		}
		if len(h.s.holdsOf("task:t")) != 0 {
			t.Fatalf("%s still holds %v", name, h.s.holdsOf("task:t"))
		}
	}
	// A restarted process sees the admitted call once, and no held one.
	a.s.Close()
	r := newHarness(t, limitConfig(), Options{Store: db1, Dir: dir})
	if c := r.recall(callSpec{server: "bank", tool: "pay", task: "t", input: `{"amount":7}`}); c.Windows["pays_1h"] != int64(2) {
		t.Fatalf("after a restart: %v", c.Windows)
	}
}

// TestReserveConflict: another process holds a place after this one judged
// a call and before it wrote its own: the write is refused and the call is
// judged again, now counting the other one.
func TestReserveConflict(t *testing.T) {
	dir := t.TempDir()
	db1, db2 := openDB(t, dir), openDB(t, dir)
	defer db1.Close()
	defer db2.Close()
	a := newHarness(t, limitConfig(), Options{Store: db1, Dir: dir})
	b := newHarness(t, limitConfig(), Options{Store: db2, Dir: dir})
	a.recall(callSpec{server: "x", tool: "y", task: "t"})
	b.recall(callSpec{server: "x", tool: "y", task: "t"})
	ctx := context.Background()
	other := payCall(a)
	judged := 0
	b.s.beforeHold = func() {
		judged++
		if judged == 1 {
			if err := a.s.Reserve(ctx, other); err != nil {
				t.Error(err)
			}
		}
	}
	c := payCall(b)
	if err := b.s.Reserve(ctx, c); err != nil {
		t.Fatal(err)
	}
	if judged != 2 || c.Windows["pays_1h"] != int64(2) {
		t.Fatalf("judged %d times, windows %v: the other process's call was not counted", judged, c.Windows)
	}
}
