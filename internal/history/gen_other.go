//go:build !unix

package history

import "sync/atomic"

// generation, where no shared mapping is available, changes at every look:
// each recall then asks the store whether another process wrote (slower,
// never stale).
type generation struct{ n atomic.Uint64 }

// GenerationFile is unused on this platform.
const GenerationFile = "history.gen"

func openGeneration(string) (*generation, error) { return &generation{}, nil }

func (g *generation) load() uint64 { return g.n.Add(1) }
func (g *generation) bump() uint64 { return g.n.Add(1) }
func (g *generation) close() error { return nil }
