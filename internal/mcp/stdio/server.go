package stdio

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// readServer relays the server's messages until its output ends.
func (r *relay) readServer(out io.Reader) error {
	rd := jsonrpc.NewReader(out, r.server.MaxBytes)
	for {
		line, err := rd.Next()
		var tooLarge *jsonrpc.TooLargeError
		switch {
		case errors.As(err, &tooLarge):
			r.log.Error("dropped a message from the MCP server larger than mcp.max_response_bytes", "error", err)
			if id, isCall := jsonrpc.RecoverID(tooLarge.Prefix); id != nil && !isCall {
				r.failRequest(id, "the MCP server's response is larger than toolgate's limit (mcp.max_response_bytes): "+err.Error())
			}
			continue
		case err == io.EOF || errors.Is(err, os.ErrClosed):
			return nil
		case err != nil:
			return err
		}
		r.fromServer(line)
	}
}

// fromServer handles one line from the server. Lines that are not JSON-RPC
// (a server that logs to stdout) are dropped, so the client's input holds
// protocol messages only.
func (r *relay) fromServer(line []byte) {
	// Brokered secrets never go further than the server, whatever it echoes.
	line = r.o.Scrub.Bytes(line)
	frame, perr := jsonrpc.Parse(line, r.server)
	if perr != nil {
		r.log.Warn("dropped a line from the MCP server that is not a valid JSON-RPC message",
			"error", perr.Message, "line", clip(line, 200))
		if perr.ID != nil {
			r.failRequest(perr.ID, "the MCP server sent an invalid response: "+perr.Message)
		}
		return
	}
	// A batch from the server is relayed message by message.
	for _, it := range frame.Items {
		if it.Err != nil {
			r.log.Warn("dropped an invalid message in a batch from the MCP server", "error", it.Err.Message)
			continue
		}
		r.serverMessage(it.Msg)
	}
}

func (r *relay) serverMessage(m *jsonrpc.Message) {
	if m.Kind != jsonrpc.KindResponse {
		// Requests (sampling, elicitation, roots, ping) and notifications
		// go to the client as they are.
		if m.Method == "notifications/tools/list_changed" {
			r.tools.ListChanged()
		}
		if m.Kind == jsonrpc.KindRequest && !r.asked.Add(m.ID) {
			_ = r.toServer.Write(jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeInternalError, "too many requests to the client wait for an answer", nil))
			return
		}
		r.writeClient(m.Raw)
		return
	}
	var q *request
	if key, err := jsonrpc.IDKey(m.ID); err == nil {
		q = r.pending.take(key)
	}
	if q == nil {
		if r.isOwnID(m.ID) {
			return // a late answer to toolgate's own request that timed out
		}
		// No request waits for it (an error about an unreadable request,
		// an answer after the client cancelled): relay it, as the server
		// would have been heard without toolgate.
		r.writeClient(m.Raw)
		return
	}
	switch q.method {
	case "tools/list":
		if q.answer == nil { // toolgate's own
			q.notify(upstreamReply{msg: m})
			return
		}
		q.respond(r.filterList(m, q))
	case "tools/call":
		q.respond(m.Raw)
		q.notify(upstreamReply{msg: m})
	case "initialize":
		r.noteVersion(m)
		q.respond(m.Raw)
	default:
		if gate.Observed(q.method) && m.Result != nil {
			// Content read outside a tool result reaches the client only
			// once the task's history knows it.
			if err := r.gate.ObserveResult(r.ctx, r.gate.Caller(), q.method, m.Result); err != nil {
				r.log.Error("withheld content the history could not record", "method", q.method, "error", err)
				q.respond(jsonrpc.ErrorResponse(q.id, jsonrpc.CodeInternalError, "toolgate withheld the result: "+err.Error(), nil))
				return
			}
		}
		q.respond(m.Raw)
	}
}

// filterList checks a tools/list result and hides what must be hidden. If
// the result cannot be checked, the client gets an error, never the
// unchecked list.
func (r *relay) filterList(m *jsonrpc.Message, q *request) []byte {
	if m.Error != nil {
		return m.Raw
	}
	res, err := r.gate.FilterList(r.ctx, m.Result, q.complete, q.gen)
	if err == nil {
		var b []byte
		if b, err = jsonrpc.ResultResponse(m.ID, res); err == nil {
			return b
		}
	}
	r.log.Error("cannot check the MCP server's tool list", "error", err)
	return jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeUpstream, "toolgate cannot check the MCP server's tool list: "+err.Error(), nil)
}

// failRequest answers a pending request with an error about its response.
func (r *relay) failRequest(id json.RawMessage, msg string) {
	key, err := jsonrpc.IDKey(id)
	if err != nil {
		return
	}
	if q := r.pending.take(key); q != nil {
		q.respond(jsonrpc.ErrorResponse(q.id, jsonrpc.CodeUpstream, msg, nil))
		q.notify(upstreamReply{err: errors.New(msg)})
	}
}

// noteVersion records the protocol version the server chose.
func (r *relay) noteVersion(m *jsonrpc.Message) {
	var res map[string]json.RawMessage
	var v string
	if json.Unmarshal(m.Result, &res) == nil && json.Unmarshal(res["protocolVersion"], &v) == nil {
		r.version.Store(&v)
	}
}

// isOwnID tells the ids of toolgate's own requests.
func (r *relay) isOwnID(id json.RawMessage) bool {
	var s string
	return json.Unmarshal(id, &s) == nil && strings.HasPrefix(s, r.idPrefix)
}

func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
