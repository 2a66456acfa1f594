package cli

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/audit"
)

// failingClose is an audit sink whose last flush fails. A test double: a
// real file system that fails fsync on demand is not available here.
type failingClose struct{ audit.Sink }

func (failingClose) Close() error { return errors.New("fsync audit.jsonl: input/output error") }

// TestRuntimeCloseReportsTheTrail: closing the runtime does not swallow the
// audit sink's error (its last records may be missing): it is returned, so
// serve and run exit with it.
func TestRuntimeCloseReportsTheTrail(t *testing.T) {
	r := &runtime{log: slog.New(slog.DiscardHandler), sink: failingClose{}}
	err := r.Close()
	if err == nil || !strings.Contains(err.Error(), "input/output error") || !strings.Contains(err.Error(), "audit trail") {
		t.Fatalf("Close: %v", err)
	}
}
