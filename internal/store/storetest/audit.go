package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// auditEntries makes n decision records numbered from `from`.
func auditEntries(from uint64, n int, at time.Time) []store.AuditEntry {
	out := make([]store.AuditEntry, n)
	for i := range out {
		seq := from + uint64(i)
		out[i] = store.AuditEntry{Seq: seq, Kind: "decision", DecisionID: fmt.Sprintf("d%06d", seq), Time: at.Add(time.Duration(seq) * time.Second),
			Principal: fmt.Sprintf("agent-%d", seq%3), OnBehalfOf: "alice", TaskID: "task-42", Server: "db", Tool: "query", Effect: "allow",
			Body: []byte(fmt.Sprintf("record %d \x00\xff", seq))}
	}
	return out
}

// next numbers a batch after the head.
func next(h store.AuditHead) uint64 {
	if h.Last == nil {
		return 1
	}
	return h.Last.Seq + 1
}

// Audit is the suite of store.AuditLog.
func Audit(t *testing.T, b Backend) {
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 123456789).UTC()

	t.Run("AppendScanCheckpoints", func(t *testing.T) {
		s := open(t, b)
		for range 3 {
			err := s.AppendAudit(ctx, func(h store.AuditHead) (store.AuditBatch, error) {
				n := next(h)
				return store.AuditBatch{Entries: auditEntries(n, 5, t0),
					Checkpoint: &store.AuditCheckpoint{Seq: n + 4, Time: t0, Body: []byte("cp"), Signature: []byte{0, 1, 2}}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// A batch numbered from the wrong head is refused whole.
		err := s.AppendAudit(ctx, func(store.AuditHead) (store.AuditBatch, error) {
			return store.AuditBatch{Entries: auditEntries(3, 2, t0)}, nil
		})
		if err == nil {
			t.Fatal("a misnumbered batch was appended")
		}
		// A builder's error writes nothing.
		boom := errors.New("boom")
		if err := s.AppendAudit(ctx, func(h store.AuditHead) (store.AuditBatch, error) {
			return store.AuditBatch{Entries: auditEntries(next(h), 1, t0)}, boom
		}); !errors.Is(err, boom) {
			t.Fatalf("builder error: %v", err)
		}
		want := auditEntries(1, 15, t0)
		var got []store.AuditEntry
		if err := s.ScanAudit(ctx, store.AuditFilter{}, func(e *store.AuditEntry) error {
			got = append(got, *e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d records, want %d", len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Seq != w.Seq || !bytes.Equal(g.Body, w.Body) || !g.Time.Equal(w.Time) || g.DecisionID != w.DecisionID ||
				g.Principal != w.Principal || g.Kind != w.Kind || g.Effect != w.Effect || g.TaskID != w.TaskID {
				t.Fatalf("record %d: got %+v, want %+v", i, g, w)
			}
		}
		var cps []store.AuditCheckpoint
		s.AuditCheckpoints(ctx, func(c *store.AuditCheckpoint) error { cps = append(cps, *c); return nil })
		if len(cps) != 3 || cps[2].Seq != 15 || !bytes.Equal(cps[0].Signature, []byte{0, 1, 2}) || !cps[0].Time.Equal(t0) {
			t.Fatalf("checkpoints %+v", cps)
		}
		// The head a later append sees is the last record and checkpoint.
		s.AppendAudit(ctx, func(h store.AuditHead) (store.AuditBatch, error) {
			if h.Last == nil || h.Last.Seq != 15 || !bytes.Equal(h.Last.Body, want[14].Body) || h.LastCheckpoint == nil || h.LastCheckpoint.Seq != 15 {
				t.Errorf("head %+v", h)
			}
			return store.AuditBatch{}, nil
		})
		// Survives another handle (a restart, another replica).
		s2 := again(t, b, s)
		n := 0
		s2.ScanAudit(ctx, store.AuditFilter{}, func(*store.AuditEntry) error { n++; return nil })
		if n != 15 {
			t.Fatalf("another handle sees %d records", n)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		s := open(t, b)
		s.AppendAudit(ctx, func(store.AuditHead) (store.AuditBatch, error) {
			es := auditEntries(1, 6, t0)
			// Record 7 is the outcome of decision 1; 8 of decision 2.
			es = append(es, store.AuditEntry{Seq: 7, Kind: "outcome", DecisionID: "d000001", Time: t0.Add(7 * time.Second), Status: "ok", Body: []byte("o1")},
				store.AuditEntry{Seq: 8, Kind: "outcome", DecisionID: "d000002", Time: t0.Add(8 * time.Second), Status: "ok", Body: []byte("o2")})
			return store.AuditBatch{Entries: es}, nil
		})
		seqs := func(f store.AuditFilter) []uint64 {
			t.Helper()
			var out []uint64
			if err := s.ScanAudit(ctx, f, func(e *store.AuditEntry) error { out = append(out, e.Seq); return nil }); err != nil {
				t.Fatal(err)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    store.AuditFilter
			want string
		}{
			{"all", store.AuditFilter{}, "[1 2 3 4 5 6 7 8]"},
			{"after", store.AuditFilter{AfterSeq: 6}, "[7 8]"},
			{"limit", store.AuditFilter{Limit: 2}, "[1 2]"},
			{"after+limit", store.AuditFilter{AfterSeq: 2, Limit: 2}, "[3 4]"},
			{"last", store.AuditFilter{Last: 3}, "[6 7 8]"},
			{"decision id", store.AuditFilter{DecisionID: "d000001"}, "[1 7]"},
			{"principal", store.AuditFilter{Principal: "agent-1"}, "[1 4]"},
			{"principal with outcomes", store.AuditFilter{Principal: "agent-1", WithOutcomes: true}, "[1 4 7]"},
			{"principal, last", store.AuditFilter{Principal: "agent-2", WithOutcomes: true, Last: 2}, "[5 8]"},
			{"since until", store.AuditFilter{Since: t0.Add(2 * time.Second), Until: t0.Add(4 * time.Second)}, "[2 3]"},
			{"tool and effect", store.AuditFilter{Tool: "query", Effect: "deny"}, "[]"},
			{"server", store.AuditFilter{Server: "db", TaskID: "task-42", OnBehalfOf: "alice", AfterSeq: 5}, "[6]"},
		} {
			if got := fmt.Sprint(seqs(tc.f)); got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
			}
		}
		// fn's error stops the scan and is returned.
		stop := errors.New("stop")
		n := 0
		if err := s.ScanAudit(ctx, store.AuditFilter{}, func(*store.AuditEntry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("stop: %v after %d", err, n)
		}
	})

	t.Run("Cursors", func(t *testing.T) {
		s := open(t, b)
		if c, err := s.AuditCursor(ctx, "x"); c != 0 || err != nil {
			t.Fatalf("new cursor: %d %v", c, err)
		}
		s.SetAuditCursor(ctx, "x", 7)
		s.SetAuditCursor(ctx, "x", 9)
		s.SetAuditCursor(ctx, "y", 1)
		if c, _ := s.AuditCursor(ctx, "x"); c != 9 {
			t.Fatalf("cursor x = %d", c)
		}
		if c, _ := again(t, b, s).AuditCursor(ctx, "y"); c != 1 {
			t.Fatalf("cursor y = %d", c)
		}
	})

	// Appends from several handles (processes, replicas) are serialised:
	// each build sees the true head, so the records form one gapless
	// sequence and no batch is refused for its numbering.
	t.Run("ConcurrentAppendsOneChain", func(t *testing.T) {
		s := open(t, b)
		handles := []Store{s, again(t, b, s), again(t, b, s)}
		const writers, batches = 6, 10
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := handles[w%len(handles)]
				for range batches {
					err := h.AppendAudit(ctx, func(head store.AuditHead) (store.AuditBatch, error) {
						return store.AuditBatch{Entries: auditEntries(next(head), 3, t0)}, nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		n := uint64(0)
		s.ScanAudit(ctx, store.AuditFilter{}, func(e *store.AuditEntry) error {
			n++
			if e.Seq != n {
				t.Fatalf("record %d at position %d", e.Seq, n)
			}
			return nil
		})
		if n != writers*batches*3 {
			t.Fatalf("%d records, want %d", n, writers*batches*3)
		}
	})
}
