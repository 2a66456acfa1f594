package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
)

// BenchmarkTrailAppend measures decision records appended per second to the
// real sqlite trail, fsync on (synchronous=FULL, every commit durable),
// with writers calling WriteDecision concurrently as a gateway's requests
// do: group commit turns their waits into shared transactions. Each
// writer returns only after its record is committed.
//
// durability=os is the same with audit.durability "os" (committed without
// the fsync, flushed every 50 ms): what is left is SQLite's own work.
func BenchmarkTrailAppend(b *testing.B) {
	for _, mode := range []string{audit.DurabilityFlush, audit.DurabilityOS} {
		for _, writers := range []int{1, 64, 512} {
			b.Run(fmt.Sprintf("durability=%s/writers=%d", mode, writers), func(b *testing.B) {
				benchTrailAppend(b, mode, writers)
			})
		}
	}
}

func benchTrailAppend(b *testing.B, mode string, writers int) {
	{
		{
			tr := openTrail(b, b.TempDir(), audit.Config{Durability: mode})
			defer tr.Close()
			rec := benchRecord()
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(max(1, writers/parallelismDivisor()))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					r := *rec
					r.DecisionID = fmt.Sprintf("d%d", n.Add(1))
					if err := tr.WriteDecision(ctx, &r); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
		}
	}
}

// parallelismDivisor is GOMAXPROCS: RunParallel starts SetParallelism ×
// GOMAXPROCS goroutines.
func parallelismDivisor() int { return max(1, testingProcs()) }

// benchRecord is a typical decision: an agent on a task calling a tool
// with a few arguments, one of them a credential to redact.
func benchRecord() *audit.Record {
	c := newFieldCall("db/query")
	c.ID, c.Time = "bench", time.Now()
	c.Input = json.RawMessage(`{"sql":"SELECT id, name FROM customers WHERE region = $1 LIMIT 50","params":["emea"],"connection":"postgres://app:s3cret-pass@db.internal:5432/crm"}`)
	return audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: call.Allow, Stage: "decide", Policies: []string{"db-read"},
		Reasons: []call.Reason{{Kind: call.ReasonPermit, Policy: "db-read", Message: "read-only queries are allowed"}}, PolicyVersion: "3f2a9c"},
		&call.Credential{ID: "jti-bench"})
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
