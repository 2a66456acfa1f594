package audit_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// osTrail is a trail with durability "os" on a real database opened the
// way OpenSQLite opens it for that mode, with flush as its flush.
func osTrail(t *testing.T, flush func(db *sqlite.DB) error) (*audit.Trail, *sqlite.DB) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, _ := audit.LoadOrCreateRedactionKey(dir)
	red, _ := audit.NewRedactor(audit.RedactConfig{}, key)
	sig, _ := audit.LoadOrCreateSigningKey(dir)
	tr, err := audit.NewTrail(db, audit.TrailOptions{Redactor: red, SigningKey: sig, Durability: audit.DurabilityOS,
		Flush: func() error { return flush(db) }})
	if err != nil {
		t.Fatal(err)
	}
	return tr, db
}

func decisionRecord(id string) *audit.Record {
	c := newFieldCall("fs/read")
	c.ID, c.Time = id, time.Now()
	return audit.NewRecord(c, &call.Decision{ID: id, Effect: call.Allow, Policies: []string{}}, nil)
}

// TestDurabilityOSDoesNotWaitForTheFlush: with durability "os" a decision
// record returns once committed, while the flush (held here) has not
// happened; the flusher then flushes it without being asked.
func TestDurabilityOSDoesNotWaitForTheFlush(t *testing.T) {
	release := make(chan struct{})
	flushed := make(chan struct{}, 100)
	tr, _ := osTrail(t, func(db *sqlite.DB) error {
		<-release
		err := db.SyncWAL()
		flushed <- struct{}{}
		return err
	})
	if err := tr.WriteDecision(context.Background(), decisionRecord("a")); err != nil {
		t.Fatal(err) // it would hang here if the record waited for the flush
	}
	close(release)
	select {
	case <-flushed:
	case <-time.After(time.Minute):
		t.Fatal("the committed record was never flushed")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if tr.Durability() != audit.DurabilityOS {
		t.Fatalf("durability %q", tr.Durability())
	}
}

// TestDurabilityOSFailedFlushDenies: once a flush fails, records are
// refused (their calls denied) and Healthy says why, until a flush works.
func TestDurabilityOSFailedFlushDenies(t *testing.T) {
	var mu sync.Mutex
	fail := false
	failed := make(chan struct{}, 100)
	tr, _ := osTrail(t, func(db *sqlite.DB) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			failed <- struct{}{}
			return errors.New("disk I/O error")
		}
		return db.SyncWAL()
	})
	defer tr.Close()
	mu.Lock()
	fail = true
	mu.Unlock()
	if err := tr.WriteDecision(context.Background(), decisionRecord("a")); err != nil {
		t.Fatal(err)
	}
	// The flush function signals before the trail records its error; the
	// second failed flush shows the first one's error is recorded.
	for range 2 {
		select {
		case <-failed:
		case <-time.After(time.Minute):
			t.Fatal("no flush was tried")
		}
	}
	err := tr.WriteDecision(context.Background(), decisionRecord("b"))
	if err == nil || !strings.Contains(err.Error(), "cannot be flushed") {
		t.Fatalf("WriteDecision while flushes fail: %v", err)
	}
	if h := tr.Healthy(); h == nil || !strings.Contains(h.Error(), "cannot be flushed") {
		t.Fatalf("Healthy: %v", h)
	}
	if err := tr.Probe(context.Background()); err == nil {
		t.Fatal("Probe passed while flushes fail")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if err := tr.WriteDecision(context.Background(), decisionRecord("c")); err != nil || tr.Healthy() != nil {
		t.Fatal(err, tr.Healthy())
	}
}

// TestCheckpointsShowDurability: every checkpoint names the mode it was
// signed under, and verify reports it.
func TestCheckpointsShowDurability(t *testing.T) {
	for _, mode := range []string{"", audit.DurabilityFlush, audit.DurabilityOS} {
		dir := t.TempDir()
		tr := openTrail(t, dir, audit.Config{Durability: mode})
		if err := tr.WriteDecision(context.Background(), decisionRecord("a")); err != nil {
			t.Fatal(err)
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		want := mode
		if want == "" {
			want = audit.DurabilityFlush
		}
		db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = db.AuditCheckpoints(context.Background(), func(c *store.AuditCheckpoint) error {
			n++
			if !strings.Contains(string(c.Body), `"durability":"`+want+`"`) {
				t.Errorf("mode %q: checkpoint %s", mode, c.Body)
			}
			return nil
		})
		db.Close()
		if err != nil || n == 0 {
			t.Fatalf("mode %q: %d checkpoints, %v", mode, n, err)
		}
		if rep := verify(t, dir); !rep.OK || len(rep.Durability) != 1 || rep.Durability[0] != want {
			t.Fatalf("mode %q: verify %+v", mode, rep)
		}
	}
}

// TestDurabilityIsNeverGuessed: a value other than flush or os is refused,
// not taken for either.
func TestDurabilityIsNeverGuessed(t *testing.T) {
	for _, v := range []string{"fsync", "FLUSH", "none", " os"} {
		if _, err := audit.OpenSQLite(audit.Config{Durability: v}, t.TempDir(), nil); err == nil {
			t.Errorf("durability %q accepted by the sqlite sink", v)
		}
		if _, err := audit.Open(audit.Config{Sink: "jsonl", Durability: v}, t.TempDir()); err == nil {
			t.Errorf("durability %q accepted by the jsonl sink", v)
		}
	}
}
