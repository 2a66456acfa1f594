package stdio

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// Approval by MCP elicitation: with Options.Elicitation, a tools/call that
// waits for a person's approval also asks the person at the client
// (elicitation/create), if the client said in initialize that it supports
// elicitation. toolgate's request carries one of its own ids; the client's
// answer is taken here and never reaches the server.

// elicitations are toolgate's own requests to the client in flight.
type elicitations struct {
	mu sync.Mutex
	m  map[string]chan *jsonrpc.Message
}

// noteClientCapabilities records whether the client supports elicitation,
// from the params of its initialize request.
func (r *relay) noteClientCapabilities(params json.RawMessage) {
	r.clientElicits.Store(mcp.ClientElicits(params))
}

// withElicitor gives a call's context the client as an elicitor, when
// configured and supported: said in initialize, or (MCP 2026-07-28 and
// later, which has no initialize) in the request's own
// _meta["io.modelcontextprotocol/clientCapabilities"].
func (r *relay) withElicitor(ctx context.Context, params json.RawMessage) context.Context {
	if !r.o.Elicitation || !(r.clientElicits.Load() || mcp.MetaElicits(params)) {
		return ctx
	}
	return approval.WithElicitor(ctx, clientElicitor{r})
}

// withProgress lets a call that waits for a person's approval say so with
// notifications/progress, when the client's request carries a progress
// token: clients that reset their timeout on progress keep waiting.
func (r *relay) withProgress(ctx context.Context, q *request, params json.RawMessage) context.Context {
	tok, ok := mcp.ProgressToken(params)
	if !ok {
		return ctx
	}
	return approval.WithProgress(ctx, func(n int, message string) {
		if !q.answered.Load() { // nothing after the answer or a cancellation
			r.writeClient(mcp.ProgressNotification(tok, n, message))
		}
	})
}

// clientAnswer takes a response from the client to one of toolgate's own
// requests; it reports false for any other response.
func (r *relay) clientAnswer(m *jsonrpc.Message) bool {
	if !r.isOwnID(m.ID) {
		return false
	}
	key, err := jsonrpc.IDKey(m.ID)
	if err != nil {
		return true
	}
	r.elicits.mu.Lock()
	ch := r.elicits.m[key]
	delete(r.elicits.m, key)
	r.elicits.mu.Unlock()
	if ch != nil {
		ch <- m
	}
	return true // an answer nobody waits for any more is dropped
}

type clientElicitor struct{ r *relay }

// Elicit implements approval.Elicitor.
func (e clientElicitor) Elicit(ctx context.Context, message string, schema json.RawMessage) (string, json.RawMessage, error) {
	r := e.r
	id, _ := json.Marshal(fmt.Sprintf("%s%d", r.idPrefix, r.nextID.Add(1)))
	key, _ := jsonrpc.IDKey(id)
	ch := make(chan *jsonrpc.Message, 1)
	r.elicits.mu.Lock()
	if r.elicits.m == nil {
		r.elicits.m = map[string]chan *jsonrpc.Message{}
	}
	r.elicits.m[key] = ch
	r.elicits.mu.Unlock()
	defer func() {
		r.elicits.mu.Lock()
		delete(r.elicits.m, key)
		r.elicits.mu.Unlock()
	}()
	msg, err := mcp.ElicitationRequest(id, message, schema)
	if err != nil {
		return "", nil, err
	}
	if err := r.toClient.Write(msg); err != nil {
		return "", nil, err
	}
	return mcp.AwaitElicitation(ctx, ch)
}
