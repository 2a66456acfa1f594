package stdio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// readClient relays the client's messages until its input ends, then
// reports how it ended on clientDone. A goroutine that reads a tools/call
// judges it itself, right away, and hands the reading on to a new
// goroutine: judging on the goroutine that read the message saves a switch
// to another thread on every call's way to the server.
func (r *relay) readClient(rd *jsonrpc.Reader) {
	for {
		line, err := rd.Next()
		var tooLarge *jsonrpc.TooLargeError
		switch {
		case errors.As(err, &tooLarge):
			r.log.Warn("rejected a message from the client", "error", err)
			r.writeClient(tooLarge.JSONRPC().Response())
			continue
		case err == io.EOF:
			r.clientDone <- nil
			return
		case err != nil:
			r.clientDone <- err
			return
		}
		if judge := r.fromClient(line); judge != nil {
			go r.readClient(rd)
			judge()
			return
		}
	}
}

// fromClient handles one line from the client. For a tools/call it returns
// the judgement, for the caller to run (after it has handed on the reading).
func (r *relay) fromClient(line []byte) (judge func()) {
	frame, perr := jsonrpc.Parse(line, r.client)
	if perr != nil {
		r.log.Warn("rejected a message from the client", "error", perr.Message)
		r.writeClient(perr.Response())
		return nil
	}
	if !frame.Batch {
		return r.clientMessage(frame.Items[0].Msg, r.writeClient)
	}
	if v := r.protocolVersion(); !jsonrpc.BatchesAllowed(v) {
		if v == "" {
			v = "(none negotiated yet)"
		}
		r.writeClient(jsonrpc.ErrorResponse(nil, jsonrpc.CodeInvalidRequest,
			"JSON-RPC batches are not allowed in MCP protocol version "+v, nil))
		return nil
	}
	// Each message of the batch is handled on its own (a tools/call in it is
	// judged like any other); the answers go back as one array.
	b := newBatch(r.writeClient)
	for _, it := range frame.Items {
		if it.Err != nil {
			b.expect()(it.Err.Response())
			continue
		}
		var answer func([]byte)
		if it.Msg.Kind == jsonrpc.KindRequest {
			answer = b.expect()
		}
		if judge := r.clientMessage(it.Msg, answer); judge != nil {
			// The batch's calls are judged side by side, a bounded number
			// at a time: a batch of thousands must not start thousands.
			r.batchSlots <- struct{}{}
			go func() {
				defer func() { <-r.batchSlots }()
				judge()
			}()
		}
	}
	b.seal()
	return nil
}

// clientMessage relays one valid message as the method table says
// (mcp.ClientRequest, mcp.ClientNotification); answer delivers the response
// to a request. For a tools/call, or one sent as a notification, it returns
// the work to run (judging, or recording the refusal).
func (r *relay) clientMessage(m *jsonrpc.Message, answer func([]byte)) (judge func()) {
	switch m.Kind {
	case jsonrpc.KindResponse:
		if r.clientAnswer(m) {
			return nil // an answer to toolgate's own elicitation
		}
		// An answer to a request of the server (sampling, elicitation,
		// roots, ping); one nobody asked for is dropped.
		if !r.asked.Answered(m.ID) {
			r.log.Warn("dropped a response from the client to a request the MCP server did not send", "id", string(m.ID))
			return nil
		}
		_ = r.toServer.Write(m.Raw) // if the server is gone, nobody waits for it
	case jsonrpc.KindNotification:
		switch mcp.ClientNotification(m.Method) {
		case mcp.Forward:
			if m.Method == "notifications/cancelled" {
				r.cancelRequest(m.Params)
			}
			if raw, err := gate.Forwardable(m); err == nil {
				_ = r.toServer.Write(raw)
			}
		case mcp.RefuseCall:
			r.calls.Add(1)
			return func() {
				defer r.calls.Done()
				r.refuseCall(m)
			}
		default:
			r.log.Warn("dropped a notification toolgate does not forward", "method", m.Method)
		}
	case jsonrpc.KindRequest:
		if mcp.ClientRequest(m.Method) == mcp.Refuse {
			answer(jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeMethodNotFound,
				fmt.Sprintf("toolgate does not forward method %q: only the methods of the MCP specification reach the server", m.Method), nil))
			return nil
		}
		return r.clientRequest(m, answer)
	}
	return nil
}

// refuseCall records a tools/call sent as a notification: it cannot be
// answered, so it cannot be judged and told; it never reaches the server.
func (r *relay) refuseCall(m *jsonrpc.Message) {
	d := r.gate.RefuseNotificationCall(r.ctx, r.gate.Caller(), m.Params)
	r.log.Warn("refused a tools/call sent as a notification", "decision_id", d.ID)
}

func (r *relay) clientRequest(m *jsonrpc.Message, answer func([]byte)) (judge func()) {
	key, _ := jsonrpc.IDKey(m.ID) // Parse checked it
	q := &request{id: m.ID, method: m.Method, answer: answer}
	switch m.Method {
	case "tools/list":
		q.complete = !hasCursor(m.Params)
		q.gen = r.tools.Generation()
	case "tools/call":
		q.done = make(chan upstreamReply, 1)
	case "initialize":
		r.noteClientCapabilities(m.Params)
	}
	raw, err := gate.Forwardable(m)
	if err != nil {
		answer(jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeInvalidParams, err.Error(), nil))
		return nil
	}
	if err := r.pending.add(key, q); err != nil {
		code := jsonrpc.CodeInvalidRequest
		if errors.Is(err, errGone) {
			code = jsonrpc.CodeUpstream
		}
		answer(jsonrpc.ErrorResponse(m.ID, code, err.Error(), nil))
		return nil
	}
	if m.Method == "tools/call" {
		// Judging may wait (for the tool list, the audit trail, later a
		// human's approval); the relay goes on meanwhile.
		ctx, cancel := context.WithCancel(r.withProgress(r.withElicitor(r.ctx, m.Params), q, m.Params))
		q.cancel = cancel
		r.calls.Add(1)
		return func() {
			defer r.calls.Done()
			defer cancel()
			r.judge(ctx, key, q, m)
		}
	}
	r.forward(key, q, raw)
	return nil
}

// forward sends a client request on; if the server cannot take it, the
// client gets an error instead of waiting for ever.
func (r *relay) forward(key string, q *request, raw []byte) error {
	err := r.toServer.Write(raw)
	if err != nil && r.pending.take(key) != nil {
		q.respond(jsonrpc.ErrorResponse(q.id, jsonrpc.CodeUpstream, "cannot send the request to the MCP server: "+err.Error(), nil))
		q.notify(upstreamReply{err: err})
	}
	return err
}

// judge runs the pipeline on a tools/call. The request reaches the server
// only from inside the pipeline's forward step, which runs if and only if
// the call is allowed and its decision record is durable; what reaches it
// is built from the values judged (Params.Request), never the client's
// message.
func (r *relay) judge(ctx context.Context, key string, q *request, m *jsonrpc.Message) {
	c, p, err := r.gate.NewCall(m.Params)
	if err != nil {
		r.pending.take(key)
		q.respond(jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeInvalidParams, err.Error(), nil))
		return
	}
	// Know the tool as the server defines it now. A failure is remembered
	// by the registry, and the pipeline's describe stage denies the call.
	if err := r.tools.EnsureFresh(ctx, r.lister(m.Params)); err != nil {
		r.log.Error("cannot read the server's tool list", "error", err)
	}
	d := r.gate.Execute(ctx, c, func(ctx context.Context, c *call.Call, cred *call.Credential) call.Outcome {
		// The per-call credential goes in params._meta.
		raw, err := p.Request(m.ID, c.Tool.Name, CredentialMeta(cred))
		if err != nil {
			r.pending.take(key)
			q.respond(jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeInternalError, "toolgate cannot encode the call: "+err.Error(), nil))
			return call.Outcome{Status: call.OutcomeUpstreamFailure, Error: "the call cannot be encoded: " + err.Error()}
		}
		return r.forwardCall(ctx, key, q, raw)
	})
	if d.Effect != call.Allow {
		r.pending.take(key)
		q.respond(r.gate.Deny(m.ID, c, d))
		r.log.Info("denied a tool call", "tool", c.Tool.Name, "decision_id", d.ID, "reason", d.ReasonText())
	}
}

// forwardCall sends an allowed tools/call to the server and waits for its
// answer, which the server reader has already passed to the client.
func (r *relay) forwardCall(ctx context.Context, key string, q *request, raw []byte) call.Outcome {
	if err := ctx.Err(); err != nil {
		r.pending.take(key)
		return call.Outcome{Status: call.OutcomeNotForwarded, Error: "the call ended before it was forwarded: " + err.Error()}
	}
	if err := r.forward(key, q, raw); err != nil {
		return call.Outcome{Status: call.OutcomeUpstreamFailure, Error: err.Error()}
	}
	select {
	case rep := <-q.done:
		return outcome(rep)
	case <-ctx.Done():
		return call.Interrupted(ctx.Err(), "the call ended while the server was working on it")
	}
}

// outcome reads how a forwarded call ended, for the audit trail.
func outcome(rep upstreamReply) call.Outcome {
	switch {
	case rep.err != nil:
		return call.Outcome{Status: call.OutcomeUpstreamFailure, Error: rep.err.Error()}
	}
	return gate.Outcome(rep.msg.Result, rep.msg.Error)
}

// cancelRequest handles notifications/cancelled from the client: the
// request gets no answer from toolgate, and a tools/call still being judged
// is not forwarded. The notification itself goes on to the server.
func (r *relay) cancelRequest(params json.RawMessage) {
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		return
	}
	key, err := jsonrpc.IDKey(p["requestId"])
	if err != nil {
		return
	}
	if q := r.pending.take(key); q != nil {
		q.silence()
		if q.cancel != nil {
			q.cancel()
		}
	}
}

// lister returns toolgate's own tools/list, one page per call. It carries
// the per-request protocol members (MCP 2026-07-28) of the client's request
// that made the list needed (params), read only if a list is needed.
func (r *relay) lister(clientParams json.RawMessage) gate.ListFunc {
	return func(ctx context.Context, cursor string) (json.RawMessage, error) {
		meta := gate.ProtocolMeta(clientParams)
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		if meta != nil {
			params["_meta"] = meta
		}
		id, _ := json.Marshal(fmt.Sprintf("%s%d", r.idPrefix, r.nextID.Add(1)))
		key, _ := jsonrpc.IDKey(id)
		q := &request{id: id, method: "tools/list", done: make(chan upstreamReply, 1)}
		if err := r.pending.add(key, q); err != nil {
			return nil, err
		}
		msg, err := json.Marshal(map[string]any{"jsonrpc": jsonrpc.Version, "id": json.RawMessage(id), "method": "tools/list", "params": params})
		if err != nil {
			r.pending.take(key)
			return nil, err
		}
		if err := r.forward(key, q, msg); err != nil {
			return nil, err
		}
		timer := time.NewTimer(listTimeout)
		defer timer.Stop()
		select {
		case rep := <-q.done:
			switch {
			case rep.err != nil:
				return nil, rep.err
			case rep.msg.Error != nil:
				return nil, fmt.Errorf("the server answered tools/list with an error: %s", rep.msg.Error)
			}
			return rep.msg.Result, nil
		case <-ctx.Done():
			r.pending.take(key)
			return nil, ctx.Err()
		case <-timer.C:
			r.pending.take(key)
			return nil, fmt.Errorf("the server did not answer tools/list within %v", listTimeout)
		}
	}
}

// hasCursor tells a tools/list for a later page from one for the first.
func hasCursor(params json.RawMessage) bool {
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		return false
	}
	c, ok := p["cursor"]
	return ok && string(c) != "null"
}
