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
