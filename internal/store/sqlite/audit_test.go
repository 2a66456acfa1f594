package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

func entries(from uint64, n int) []store.AuditEntry {
	out := make([]store.AuditEntry, n)
	for i := range out {
		seq := from + uint64(i)
		out[i] = store.AuditEntry{Seq: seq, Kind: "decision", DecisionID: fmt.Sprintf("0193a7c2-0000-7000-8000-%012d", seq), Time: time.Now(),
			Principal: "agent-7", OnBehalfOf: "alice", TaskID: "task-42", Server: "db", Tool: "query", Effect: "allow",
			Body: make([]byte, 600)}
	}
	return out
}

func TestAppendAndScan(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), FileName), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for b := 0; b < 3; b++ {
		err := db.AppendAudit(ctx, func(h store.AuditHead) (store.AuditBatch, error) {
			next := uint64(1)
			if h.Last != nil {
				next = h.Last.Seq + 1
			}
			return store.AuditBatch{Entries: entries(next, 5), Checkpoint: &store.AuditCheckpoint{Seq: next + 4, Time: time.Now(), Body: []byte("cp"), Signature: []byte("sig")}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A batch numbered from the wrong head is refused whole.
	err = db.AppendAudit(ctx, func(store.AuditHead) (store.AuditBatch, error) {
		return store.AuditBatch{Entries: entries(3, 2)}, nil
	})
	if err == nil {
		t.Fatal("a misnumbered batch was appended")
	}
	n := 0
	db.ScanAudit(ctx, store.AuditFilter{}, func(e *store.AuditEntry) error {
		n++
		if e.Seq != uint64(n) {
			t.Fatalf("seq %d at %d", e.Seq, n)
		}
		return nil
	})
	cps := 0
	db.AuditCheckpoints(ctx, func(*store.AuditCheckpoint) error { cps++; return nil })
	if n != 15 || cps != 3 {
		t.Fatalf("%d records, %d checkpoints", n, cps)
	}
	if err := db.SetAuditCursor(ctx, "x", 7); err != nil {
		t.Fatal(err)
	}
	if c, _ := db.AuditCursor(ctx, "x"); c != 7 {
		t.Fatal(c)
	}
}

// BenchmarkAppendAudit measures the store alone: batches of 512 records,
// each batch one durable transaction.
func BenchmarkAppendAudit(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), FileName), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const batch = 512
	next := uint64(1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		es := entries(next, batch)
		if err := db.AppendAudit(context.Background(), func(store.AuditHead) (store.AuditBatch, error) {
			return store.AuditBatch{Entries: es}, nil
		}); err != nil {
			b.Fatal(err)
		}
		next += batch
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "records/s")
}
