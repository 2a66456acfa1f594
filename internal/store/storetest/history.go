package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// History is the suite of store.History.
func History(t *testing.T, b Backend) {
	ctx := context.Background()
	t.Run("AppendScanPrune", func(t *testing.T) {
		s := open(t, b)
		t0 := time.Unix(1_800_000_000, 0)
		evs := []store.HistoryEvent{
			{Time: t0, Key: "task:a", Principal: "p1", Origin: "o1", Body: []byte("1")},
			{Time: t0.Add(time.Second), Key: "principal:p1", Principal: "p1", Origin: "o1", Body: []byte("2")},
			{Time: t0.Add(2 * time.Second), Key: "task:b", Principal: "p2", Origin: "o2", Body: []byte("3")},
			{Time: t0.Add(3 * time.Second), Key: "task:a", Principal: "p1", Origin: "o2", Body: []byte("4")},
		}
		if err := s.AppendHistory(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendHistory(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].Seq <= evs[i-1].Seq {
				t.Fatalf("seq not increasing: %+v", evs)
			}
		}
		scan := func(s Store, f store.HistoryFilter) string {
			t.Helper()
			var out string
			if err := s.ScanHistory(ctx, f, func(e *store.HistoryEvent) error {
				out += string(e.Body)
				if e.Body[0] == '4' && (e.Origin != "o2" || e.Key != "task:a" || e.Principal != "p1" || !e.Time.Equal(t0.Add(3*time.Second)) || e.Seq != evs[3].Seq) {
					t.Errorf("event 4: %+v", e)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := scan(s, store.HistoryFilter{Key: "task:a"}); got != "14" {
			t.Fatalf("key scan: %q", got)
		}
		if got := scan(s, store.HistoryFilter{Principal: "p1"}); got != "124" {
			t.Fatalf("principal scan: %q", got)
		}
		if got := scan(s, store.HistoryFilter{Key: "task:a", AfterSeq: evs[0].Seq}); got != "4" {
			t.Fatalf("after seq: %q", got)
		}
		if got := scan(s, store.HistoryFilter{Principal: "p1", Since: t0.Add(time.Second)}); got != "24" {
			t.Fatalf("since: %q", got)
		}
		if err := s.ScanHistory(ctx, store.HistoryFilter{}, func(*store.HistoryEvent) error { return nil }); err == nil {
			t.Fatal("a scan without key or principal was accepted")
		}
		if err := s.ScanHistory(ctx, store.HistoryFilter{Key: "k", Principal: "p"}, func(*store.HistoryEvent) error { return nil }); err == nil {
			t.Fatal("a scan with key and principal was accepted")
		}
		n, err := s.PruneHistory(ctx, t0.Add(2*time.Second))
		if err != nil || n != 2 {
			t.Fatalf("prune: %d %v", n, err)
		}
		// Another handle sees the same; numbers continue after a prune.
		s2 := again(t, b, s)
		if got := scan(s2, store.HistoryFilter{Principal: "p1"}); got != "4" {
			t.Fatalf("another handle: %q", got)
		}
		s.PruneHistory(ctx, t0.Add(time.Hour))
		more := []store.HistoryEvent{{Time: t0, Key: "task:a", Principal: "p1", Origin: "o1", Body: []byte("5")}}
		if err := s2.AppendHistory(ctx, more); err != nil {
			t.Fatal(err)
		}
		if more[0].Seq <= evs[3].Seq {
			t.Fatalf("numbering restarted after a prune: %d after %d", more[0].Seq, evs[3].Seq)
		}
	})

	// A reader that follows a history by Seq (as each process does for
	// the others' events) misses nothing, however writers on several
	// handles interleave: numbers become visible in commit order.
	t.Run("ReadersMissNothing", func(t *testing.T) {
		s := open(t, b)
		handles := []Store{s, again(t, b, s), again(t, b, s)}
		const writers, per = 6, 25
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					ev := []store.HistoryEvent{{Time: time.Now(), Key: "task:x", Principal: "p", Origin: fmt.Sprint(w), Body: []byte(fmt.Sprintf("%d/%d", w, i))},
						{Time: time.Now(), Key: "task:x", Principal: "p", Origin: fmt.Sprint(w), Body: []byte(fmt.Sprintf("%d/%d'", w, i))}}
					if err := handles[w%len(handles)].AppendHistory(ctx, ev); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		// Tail while they write, as a process catching up does.
		seen := map[string]bool{}
		var after int64
		tail := func() {
			if err := handles[2].ScanHistory(ctx, store.HistoryFilter{Key: "task:x", AfterSeq: after}, func(e *store.HistoryEvent) error {
				if e.Seq <= after {
					t.Errorf("seq %d after %d", e.Seq, after)
				}
				after = e.Seq
				seen[string(e.Body)] = true
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		for running := true; running; {
			select {
			case <-done:
				running = false
			default:
			}
			tail()
		}
		tail()
		if len(seen) != writers*per*2 {
			t.Fatalf("the tailing reader saw %d events of %d", len(seen), writers*per*2)
		}
	})

	// An event with Unless is kept out when an event of another origin
	// matches a filter past its AfterSeq, and stored otherwise; the rest of
	// the batch is stored either way.
	t.Run("ConditionalAppend", func(t *testing.T) {
		db := open(t, b)
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
	})

	// Processes judging side by side on several handles each store a call
	// only if no other stored one it has not seen: a limit of 5 calls is
	// never passed, however they interleave.
	t.Run("ConditionalAppendHoldsALimit", func(t *testing.T) {
		s := open(t, b)
		handles := []Store{s, again(t, b, s), again(t, b, s)}
		const limit = 5
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := handles[w%len(handles)]
				for {
					n, last := 0, int64(0)
					if err := h.ScanHistory(ctx, store.HistoryFilter{Key: "task:lim"}, func(e *store.HistoryEvent) error {
						n, last = n+1, e.Seq
						return nil
					}); err != nil {
						t.Error(err)
						return
					}
					if n >= limit {
						return
					}
					ev := []store.HistoryEvent{{Time: time.Now(), Key: "task:lim", Principal: "p", Origin: fmt.Sprint("w", w), Body: []byte("call"),
						Unless: []store.HistoryFilter{{Key: "task:lim", AfterSeq: last}}}}
					if err := h.AppendHistory(ctx, ev); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		n := 0
		s.ScanHistory(ctx, store.HistoryFilter{Key: "task:lim"}, func(*store.HistoryEvent) error { n++; return nil })
		if n != limit {
			t.Fatalf("%d calls stored under a limit of %d", n, limit)
		}
	})
}
