package txntoken

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ReplayCache remembers the ids of used tokens until they expire, so each
// token is accepted once. A server with several replicas needs one cache
// that they share (a database or Redis behind this interface): with one
// cache per replica, a token could be used once per replica.
type ReplayCache interface {
	// Use records id as used until expires. It reports false if id was
	// already recorded, and an error if it cannot record it — the verifier
	// then rejects the token, since single use cannot be guaranteed.
	Use(ctx context.Context, id string, expires time.Time) (bool, error)
}

// DefaultReplayEntries bounds a memory replay cache.
const DefaultReplayEntries = 1 << 20

// ErrReplayCacheFull is returned when a memory replay cache holds as many
// unexpired ids as it may.
var ErrReplayCacheFull = errors.New("the replay cache is full")

// MemoryReplayCache is a ReplayCache for one process.
type MemoryReplayCache struct {
	max int
	now func() time.Time

	mu        sync.Mutex
	used      map[string]time.Time
	nextSweep time.Time
}

// NewMemoryReplayCache holds at most max unexpired ids (default
// DefaultReplayEntries): about max / lifetime tokens a second. When it is
// full, tokens are rejected rather than old ids forgotten early.
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	if max <= 0 {
		max = DefaultReplayEntries
	}
	return &MemoryReplayCache{max: max, now: time.Now, used: map[string]time.Time{}}
}

// Use implements ReplayCache.
func (m *MemoryReplayCache) Use(_ context.Context, id string, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if until, ok := m.used[id]; ok && now.Before(until) {
		return false, nil
	}
	// Expired ids are dropped at most once a second, or at once when the
	// cache is full: a sweep walks every entry.
	if now.After(m.nextSweep) || len(m.used) >= m.max {
		for k, until := range m.used {
			if !now.Before(until) {
				delete(m.used, k)
			}
		}
		m.nextSweep = now.Add(time.Second)
	}
	if len(m.used) >= m.max {
		return false, ErrReplayCacheFull
	}
	m.used[id] = expires
	return true, nil
}

// Len is the number of ids held (expired ones may still be among them).
func (m *MemoryReplayCache) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.used)
}
