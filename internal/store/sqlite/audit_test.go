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
