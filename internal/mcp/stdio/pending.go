package stdio

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// upstreamReply is what a waiter learns about its request: the upstream's
// response, or why there will be none.
type upstreamReply struct {
	msg *jsonrpc.Message
	err error
}

// request is a request on its way to the upstream (or being judged before
// it may go): the client's, or toolgate's own (internal).
type request struct {
	id     json.RawMessage // as the client wrote it, for errors
	method string
	// answer delivers the one response the client gets; nil for internal
	// requests.
	answer func([]byte)
	// answered makes sure the client gets exactly one response, whichever
	// of the upstream, a denial, a cancellation or a crash comes first.
	answered atomic.Bool

	// tools/list: whether the listing is complete (no cursor) and the list
	// generation when it was asked for.
	complete bool
	gen      uint64

	// done receives the upstream's reply for waiters (tools/call being
	// forwarded, internal requests); buffered, so delivery never blocks.
	done chan upstreamReply
	// cancel stops the judgement of a tools/call the client cancelled.
	cancel context.CancelFunc
}

// respond sends b to the client unless the request was answered already.
func (r *request) respond(b []byte) {
	if r.answer != nil && r.answered.CompareAndSwap(false, true) {
		r.answer(b)
	}
}

// silence makes sure the client gets no (further) answer: after
// notifications/cancelled the client expects none.
func (r *request) silence() { r.answered.Store(true) }

// notify tells a waiter, if any, how the request ended.
func (r *request) notify(rep upstreamReply) {
	if r.done != nil {
		select {
		case r.done <- rep:
		default: // already told
		}
	}
}

// maxPending bounds the requests in flight, so that a client cannot make
// toolgate hold an unbounded number of them.
const maxPending = 4096

// pendingTable maps the ids of requests in flight to the upstream to their
// requests. Client and internal requests share it, so an id can never mean
// two requests at once.
type pendingTable struct {
	mu     sync.Mutex
	m      map[string]*request
	closed error // set once the upstream is gone: nothing new is accepted
}

func newPendingTable() *pendingTable { return &pendingTable{m: map[string]*request{}} }

// add registers a request under key. It fails if the id is in use by a
// request still in flight (a collision) or the upstream is gone.
func (p *pendingTable) add(key string, r *request) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed != nil {
		return p.closed
	}
	if _, dup := p.m[key]; dup {
		return fmt.Errorf("request id %s is already in use by a request that has not been answered yet", key[2:])
	}
	if len(p.m) >= maxPending {
		return fmt.Errorf("too many requests are in flight (%d); wait for answers before sending more", maxPending)
	}
	p.m[key] = r
	return nil
}

// take removes and returns the request under key (nil if none).
func (p *pendingTable) take(key string) *request {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.m[key]
	delete(p.m, key)
	return r
}

// drain closes the table with err and returns every request still in it.
func (p *pendingTable) drain(err error) []*request {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed == nil {
		p.closed = err
	}
	out := make([]*request, 0, len(p.m))
	for k, r := range p.m {
		out = append(out, r)
		delete(p.m, k)
	}
	return out
}
