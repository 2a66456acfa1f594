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
}
