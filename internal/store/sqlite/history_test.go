package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// BenchmarkHistoryCatchUp is what a history recall pays to learn that no
// other process wrote to a task's history: one indexed scan that finds
// nothing, on a table of 100,000 events.
func BenchmarkHistoryCatchUp(b *testing.B) {
	path := b.TempDir() + "/" + FileName
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Now()
	for k := 0; k < 100; k++ {
		evs := make([]store.HistoryEvent, 1000)
		for i := range evs {
			evs[i] = store.HistoryEvent{Time: now, Key: fmt.Sprintf("task:%d", i%100), Principal: "p", Origin: "o", Body: []byte("{}")}
		}
		if err := db.AppendHistory(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := db.ScanHistory(ctx, store.HistoryFilter{Key: "task:7", AfterSeq: 1 << 40}, func(*store.HistoryEvent) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHistoryConditionalAppend: an event with Unless is kept out when an
// event of another origin matches a filter past its AfterSeq, and stored
// otherwise; the rest of the batch is stored either way.
func TestHistoryConditionalAppend(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	base := []store.HistoryEvent{
		{Time: t0, Key: "task:a", Principal: "p1", Origin: "o1", Body: []byte("1")},
		{Time: t0, Key: "task:b", Principal: "p2", Origin: "o2", Body: []byte("2")},
	}
	if err := db.AppendHistory(ctx, base); err != nil {
		t.Fatal(err)
	}
	s1, s2 := base[0].Seq, base[1].Seq
	evs := []store.HistoryEvent{
		// o1 saw up to s1 of task:a; nothing of another origin since.
		{Time: t0, Key: "task:a", Principal: "p1", Origin: "o1", Body: []byte("ok"), Unless: []store.HistoryFilter{{Key: "task:a", AfterSeq: s1}}},
		// o1 saw nothing of p2; o2 wrote s2 for p2.
		{Time: t0, Key: "task:b", Principal: "p2", Origin: "o1", Body: []byte("conflict"), Unless: []store.HistoryFilter{{Key: "task:a", AfterSeq: s1}, {Principal: "p2", AfterSeq: 0}}},
		// o2's own event does not conflict with itself.
		{Time: t0, Key: "task:b", Principal: "p2", Origin: "o2", Body: []byte("own"), Unless: []store.HistoryFilter{{Principal: "p2", AfterSeq: 0}}},
		// The event o1 stored above (same batch) conflicts for o3.
		{Time: t0, Key: "task:a", Principal: "p1", Origin: "o3", Body: []byte("late"), Unless: []store.HistoryFilter{{Key: "task:a", AfterSeq: s2}}},
		{Time: t0, Key: "task:c", Principal: "p3", Origin: "o3", Body: []byte("plain")},
	}
	if err := db.AppendHistory(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true, false, true, false} {
		if evs[i].Conflict != want || (evs[i].Seq == 0) != want {
			t.Errorf("event %s: conflict %v seq %d, want conflict %v", evs[i].Body, evs[i].Conflict, evs[i].Seq, want)
		}
	}
	var got string
	for _, f := range []store.HistoryFilter{{Key: "task:a"}, {Key: "task:b"}, {Key: "task:c"}} {
		if err := db.ScanHistory(ctx, f, func(e *store.HistoryEvent) error { got += string(e.Body) + " "; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got != "1 ok 2 own plain " {
		t.Fatalf("stored %q", got)
	}
	bad := []store.HistoryEvent{{Time: t0, Key: "k", Origin: "o", Body: []byte("x"), Unless: []store.HistoryFilter{{}}}}
	if err := db.AppendHistory(ctx, bad); err == nil {
		t.Fatal("a condition without key or principal was accepted")
	}
}
