package httpgw

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/internal/server/auth"
)

// The legacy HTTP+SSE transport (MCP 2024-11-05), for clients that do not
// speak Streamable HTTP yet: GET /sse opens the session's event stream,
// whose first event ("endpoint") names the URL the client POSTs its
// messages to; every answer comes on the stream. Enforcement is the same
// as on /mcp: the messages go through the same session code.

func (g *Gateway) serveLegacySSE(w http.ResponseWriter, r *http.Request) {
	ep, ok := g.endpointOf(r)
	if !ok {
		httpError(w, http.StatusNotFound, "no MCP server named "+quote(r.PathValue("server"))+" is configured")
		return
	}
	legacy := newStream("l", 0)
	s, err := g.newSession(ep, auth.From(r.Context()), legacy)
	if err != nil {
		g.sessionRefused(w, err)
		return
	}
	defer g.endSession(s)
	startSSE(w, "")
	if _, err := fmt.Fprintf(w, "event: endpoint\ndata: /message?sessionId=%s\n\n", url.QueryEscape(s.id)); err != nil {
		return
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	gone := legacy.attach(w, 0)
	select {
	case <-gone:
	case <-r.Context().Done():
		legacy.detach(gone)
	case <-s.ctx.Done():
		legacy.detach(gone)
	}
}

func (g *Gateway) serveLegacyMessage(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	s := g.sessions[r.URL.Query().Get("sessionId")]
	g.mu.Unlock()
	who := auth.From(r.Context())
	if s == nil || s.legacy == nil || s.owner != ownerOf(who) {
		httpError(w, http.StatusNotFound, "no such session; open one with GET /sse")
		return
	}
	s.touch()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(g.client.MaxBytes)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("message is larger than the limit of %d bytes", g.client.MaxBytes))
			return
		}
		httpError(w, http.StatusBadRequest, "cannot read the body: "+err.Error())
		return
	}
	frame, perr := jsonrpc.Parse(body, g.client)
	if perr != nil {
		writeJSON(w, http.StatusBadRequest, perr.Response())
		return
	}
	if frame.Batch && !g.batchAllowed(w, s) {
		return
	}
	if !g.enter() {
		httpError(w, http.StatusServiceUnavailable, "toolgate is shutting down")
		return
	}
	task := r.Header.Get("X-Toolgate-Task")
	if frame.Batch {
		// Answered on the session's stream, as one array.
		w.WriteHeader(http.StatusAccepted)
		go func() {
			defer g.calls.Done()
			out := &batchOut{s: s}
			g.runBatch(who, task, s, frame, out)
			out.end()
		}()
		return
	}
	m := frame.Items[0].Msg
	if m.Kind != jsonrpc.KindRequest {
		defer g.calls.Done()
		if err := s.fromClient(g.ctx, who, task, m); err != nil {
			writeJSON(w, http.StatusBadGateway, jsonrpc.ErrorResponse(nil, jsonrpc.CodeUpstream, err.Error(), nil))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	go func() {
		defer g.calls.Done()
		s.request(who, task, m, &responder{s: s})
	}()
}
