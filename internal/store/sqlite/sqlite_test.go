package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// TestWritersOfOneFileQueueInProcess: two handles on one file (as the audit
// trail and the task/history store are) share this process's write lock, so
// a writer waits for the other's commit here instead of in SQLite's busy
// handler, which sleeps in steps of up to 100 ms (a worst append of half a
// second was seen with four writers on two handles before the lock).
func TestWritersOfOneFileQueueInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	a, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(filepath.Join(filepath.Dir(path), ".", FileName), Options{}) // another spelling of the path
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.AppendAudit(context.Background(), func(store.AuditHead) (store.AuditBatch, error) {
			close(holding)
			<-release
			return store.AuditBatch{}, nil
		})
	}()
	<-holding

	// b cannot start its write while a's transaction is open: it waits on
	// the shared lock and gives up with ctx, never reaching SQLite.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = b.AppendHistory(ctx, []store.HistoryEvent{{Time: time.Now(), Key: "k", Body: []byte("{}")}})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting to write") {
		t.Fatalf("second handle's write during the first's transaction: got %v, want it to wait on the process's write lock", err)
	}

	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Once a has committed, b writes at once.
	if err := b.AppendHistory(context.Background(), []store.HistoryEvent{{Time: time.Now(), Key: "k", Body: []byte("{}")}}); err != nil {
		t.Fatal(err)
	}
}
