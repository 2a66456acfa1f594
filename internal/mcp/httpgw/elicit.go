package httpgw

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// Approval by MCP elicitation over HTTP: with Options.Elicitation, a
// tools/call that waits for a person's approval also asks the person at the
// client (elicitation/create on the call's own event stream), if the client
// declared elicitation in initialize (or in the request's _meta). The
// request carries an id of toolgate's own; the client's answer, POSTed like
// any response, is taken here and never reaches a server.

// withElicitor gives a call's context the client as an elicitor, when
// configured and supported.
func (d *dispatch) withElicitor(ctx context.Context) context.Context {
	if !d.s.g.o.Elicitation || !(d.s.clientElicits.Load() || mcp.MetaElicits(d.m.Params)) {
		return ctx
	}
	return approval.WithElicitor(ctx, httpElicitor{d})
}

// withProgress lets a call that waits for a person's approval say so with
// notifications/progress on the call's own event stream (the response
// becomes one), when the client's request carries a progress token:
// clients that reset their timeout on progress keep waiting.
func (d *dispatch) withProgress(ctx context.Context) context.Context {
	tok, ok := mcp.ProgressToken(d.m.Params)
	if !ok {
		return ctx
	}
	return approval.WithProgress(ctx, func(n int, message string) {
		d.rp.related(mcp.ProgressNotification(tok, n, message)) // nothing after the answer
	})
}

type httpElicitor struct{ d *dispatch }

// Elicit implements approval.Elicitor.
func (e httpElicitor) Elicit(ctx context.Context, message string, schema json.RawMessage) (string, json.RawMessage, error) {
	s := e.d.s
	ch := make(chan *jsonrpc.Message, 1)
	s.mu.Lock()
	s.ownSeq++
	id := json.RawMessage(strconv.Quote("toolgate-" + s.id[:8] + "-elicit-" + strconv.FormatUint(s.ownSeq, 10)))
	key, _ := jsonrpc.IDKey(id)
	if s.elicits == nil {
		s.elicits = map[string]chan *jsonrpc.Message{}
	}
	s.elicits[key] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.elicits, key)
		s.mu.Unlock()
	}()
	msg, err := mcp.ElicitationRequest(id, message, schema)
	if err != nil {
		return "", nil, err
	}
	e.d.rp.related(msg)
	return mcp.AwaitElicitation(ctx, ch)
}

// elicitAnswer takes the client's answer to one of toolgate's elicitations;
// it reports false for any other response.
func (s *session) elicitAnswer(m *jsonrpc.Message) bool {
	key, err := jsonrpc.IDKey(m.ID)
	if err != nil {
		return false
	}
	s.mu.Lock()
	ch, ok := s.elicits[key]
	delete(s.elicits, key)
	s.mu.Unlock()
	if ok {
		ch <- m
	}
	return ok
}
