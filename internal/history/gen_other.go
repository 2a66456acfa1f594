//go:build !unix

package history

import (
	"context"

	"github.com/toolgate/toolgate/internal/store"
)

// generation, where no shared mapping is available, reports a change at
// every look: each recall then asks the store whether another process
// wrote (slower, never stale).
type generation struct{}

// GenerationFile is unused on this platform.
const GenerationFile = "history.gen"

func openGeneration(context.Context, string, store.HistoryCounterMark) (*generation, error) {
	return &generation{}, nil
}

func (g *generation) load(context.Context) (uint64, bool, error) { return 0, true, nil }
func (g *generation) bump() (uint64, bool)                       { return 0, true }
func (g *generation) close() error                               { return nil }
