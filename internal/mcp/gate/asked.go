package gate

import (
	"encoding/json"
	"sync"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// MaxAsked bounds the server's requests to the client that wait for an
// answer; a server that sends more gets errors for the excess.
const MaxAsked = 4096

// Asked remembers the ids of the server's requests to the client
// (sampling, elicitation, roots, ping), so that only answers to them reach
// the server: a response is a message the server may act on, and one it
// never asked for is the client's to explain, not the server's to read.
type Asked struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// Add notes a request of the server; false when too many wait already.
func (a *Asked) Add(id json.RawMessage) bool {
	key, err := jsonrpc.IDKey(id)
	if err != nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = map[string]struct{}{}
	}
	if len(a.ids) >= MaxAsked {
		return false
	}
	a.ids[key] = struct{}{}
	return true
}

// Answered tells whether id answers a request of the server, and forgets it.
func (a *Asked) Answered(id json.RawMessage) bool {
	key, err := jsonrpc.IDKey(id)
	if err != nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.ids[key]
	delete(a.ids, key)
	return ok
}
