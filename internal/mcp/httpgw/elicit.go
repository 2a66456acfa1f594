package httpgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	msg, err := json.Marshal(map[string]any{"jsonrpc": jsonrpc.Version, "id": id, "method": "elicitation/create",
		"params": map[string]any{"message": message, "requestedSchema": schema}})
	if err != nil {
		return "", nil, err
	}
	e.d.rp.related(msg)
	select {
	case m := <-ch:
		if m.Error != nil {
			return "", nil, fmt.Errorf("the client answered elicitation/create with an error: %s", m.Error)
		}
		action, content, ok := mcp.ElicitResult(m.Result)
		if !ok {
			return "", nil, errors.New("the client's elicitation result has no action")
		}
		return action, content, nil
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
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
