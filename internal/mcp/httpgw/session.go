package httpgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/internal/mcp/upstream"
	"github.com/toolgate/toolgate/internal/server/auth"
)

// session is one client session: a connection to each of its endpoint's
// servers, the client's event streams, and the requests in flight.
type session struct {
	id    string
	g     *Gateway
	ep    *endpoint
	owner string
	// legacy is the event stream of a legacy HTTP+SSE session: every
	// message to the client goes there.
	legacy *stream

	ctx    context.Context // ends with the session
	cancel context.CancelFunc
	used   atomic.Int64 // unix nanos of the last request

	mu       sync.Mutex
	conns    map[string]upstream.Conn
	get      *stream            // the standalone stream
	streams  map[string]*stream // request streams, for resumption
	nstreams int
	inflight map[string]*inflight // client requests, by id key
	version  string
	ownSeq   uint64
	// elicits are toolgate's own elicitation requests to the client in
	// flight (elicit.go); clientElicits: the client declared elicitation.
	elicits       map[string]chan *jsonrpc.Message
	clientElicits atomic.Bool
	// asked: the servers' requests to the client waiting for an answer
	// (ids as the client sees them); only answers to them go upstream.
	asked gate.Asked
}

type inflight struct {
	server string // "" until routed
	cancel context.CancelFunc
}

// errClosing and errTooManySessions are why newSession refuses.
var (
	errClosing         = errors.New("toolgate is shutting down")
	errTooManySessions = errors.New("too many open MCP sessions")
)

func (g *Gateway) newSession(ep *endpoint, who *auth.Caller, legacy *stream) (*session, error) {
	s := &session{
		id: newID(), g: g, ep: ep, owner: ownerOf(who), legacy: legacy,
		conns: map[string]upstream.Conn{}, streams: map[string]*stream{}, inflight: map[string]*inflight{},
	}
	s.get = newStream("g"+s.id[:8], 256)
	s.ctx, s.cancel = context.WithCancel(g.ctx)
	s.touch()
	if err := g.admit(s); err != nil {
		s.cancel() // its context must not stay among the gateway's
		return nil, err
	}
	return s, nil
}

// admit adds a new session unless the gateway is closing or the session
// limits are reached.
func (g *Gateway) admit(s *session) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return errClosing
	}
	gw := g.o.Config.Gateway
	if len(g.sessions) >= gw.MaxSessions {
		return fmt.Errorf("%w: the gateway has %d (mcp.gateway.max_sessions); end one with DELETE or wait for an idle one to time out", errTooManySessions, len(g.sessions))
	}
	mine := 0
	for _, o := range g.sessions {
		if o.owner == s.owner {
			mine++
		}
	}
	if mine >= gw.MaxSessionsPerPrincipal {
		return fmt.Errorf("%w: this caller has %d (mcp.gateway.max_sessions_per_principal); end one with DELETE or wait for an idle one to time out", errTooManySessions, mine)
	}
	g.sessions[s.id] = s
	return nil
}

func (g *Gateway) endSession(s *session) {
	g.mu.Lock()
	delete(g.sessions, s.id)
	g.mu.Unlock()
	s.cancel()
	s.closeStreams()
	s.mu.Lock()
	conns := s.conns
	s.conns = map[string]upstream.Conn{}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (s *session) touch()                 { s.used.Store(time.Now().UnixNano()) }
func (s *session) idleFor() time.Duration { return time.Since(time.Unix(0, s.used.Load())) }

func (s *session) closeStreams() {
	s.get.close()
	if s.legacy != nil {
		s.legacy.close()
	}
}

func (s *session) findStream(id string) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == s.get.id {
		return s.get
	}
	return s.streams[id]
}

// newStream starts a request's stream, kept for resumption until a while
// after it ends.
func (s *session) newStream() *stream {
	s.mu.Lock()
	s.nstreams++
	st := newStream("r"+strconv.Itoa(s.nstreams), 0)
	s.streams[st.id] = st
	s.mu.Unlock()
	go func() {
		select {
		case <-st.done:
		case <-s.ctx.Done():
		}
		time.AfterFunc(time.Minute, func() {
			s.mu.Lock()
			delete(s.streams, st.id)
			s.mu.Unlock()
		})
	}()
	return st
}

// unrelated delivers what a server sends outside any request: on the
// standalone stream (kept there until a GET takes it), or the legacy one.
func (s *session) unrelated(server string) func([]byte) {
	return func(msg []byte) {
		msg = s.fromServer(server, msg)
		if msg == nil {
			return
		}
		if s.legacy != nil {
			s.legacy.send(msg)
			return
		}
		s.get.send(msg)
	}
}

// conn returns the session's connection to a server, opening it on first
// use.
func (s *session) conn(ctx context.Context, srv *Server) (upstream.Conn, error) {
	s.mu.Lock()
	c := s.conns[srv.Name]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := srv.Upstream.Open(ctx, s.unrelated(srv.Name))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		c.Close()
		return nil, errors.New("the session has ended")
	}
	if old := s.conns[srv.Name]; old != nil {
		s.mu.Unlock()
		c.Close()
		return old, nil
	}
	s.conns[srv.Name] = c
	s.mu.Unlock()
	return c, nil
}

// openConns are the session's connections, in server order.
func (s *session) openConns() []*serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*serverConn
	for _, srv := range s.ep.servers {
		if c := s.conns[srv.Name]; c != nil {
			out = append(out, &serverConn{srv, c})
		}
	}
	return out
}

type serverConn struct {
	srv  *Server
	conn upstream.Conn
}

// responder answers one request: with a JSON body if the answer comes
// before anything else, else with an event stream that carries the
// messages related to the request and then the answer.
type responder struct {
	w         http.ResponseWriter
	s         *session
	sessionID string

	mu   sync.Mutex
	st   *stream
	gone <-chan struct{}
	sent bool
	// checkOK asks answer to set ok: the answer is a result, not an error.
	checkOK, ok bool
	// batch, if set, takes the answer and related messages: the request
	// is one of a batch's (batch.go).
	batch *batchOut
}

// related sends a message that belongs to the request before its answer.
func (rp *responder) related(msg []byte) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.sent {
		return
	}
	if rp.batch != nil {
		rp.batch.related(msg)
		return
	}
	if rp.s.legacy != nil {
		rp.s.legacy.send(msg)
		return
	}
	if rp.st == nil {
		rp.st = rp.s.newStream()
		startSSE(rp.w, rp.sessionID)
		rp.gone = rp.st.attach(rp.w, 0)
	}
	rp.st.send(msg)
}

// answer sends the response and ends the request.
func (rp *responder) answer(msg []byte) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.sent {
		return
	}
	rp.sent = true
	if rp.checkOK { // not for every answer: a result may be megabytes
		var m struct {
			Error json.RawMessage `json:"error"`
		}
		rp.ok = json.Unmarshal(msg, &m) == nil && m.Error == nil
	}
	switch {
	case rp.batch != nil:
		rp.batch.answer(msg)
	case rp.s.legacy != nil:
		rp.s.legacy.send(msg)
	case rp.st != nil:
		rp.st.finish(msg)
	default:
		h := rp.w.Header()
		if rp.sessionID != "" {
			h.Set("Mcp-Session-Id", rp.sessionID)
		}
		h.Set("Content-Length", strconv.Itoa(len(msg)))
		writeJSON(rp.w, http.StatusOK, msg)
		if f, ok := rp.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// fromClient routes a notification or a response from the client, as the
// method table says (mcp.ClientNotification); who sent it is recorded if it
// is a refused tools/call.
func (s *session) fromClient(ctx context.Context, who *auth.Caller, task string, m *jsonrpc.Message) error {
	if m.Kind == jsonrpc.KindResponse {
		if s.elicitAnswer(m) {
			return nil // an answer to toolgate's own elicitation
		}
		// An answer to a request of a server (sampling, elicitation, roots);
		// one nobody asked for is dropped.
		if !s.asked.Answered(m.ID) {
			s.g.o.Log.Warn("dropped a response from the client to a request no MCP server sent", "session", s.id, "id", string(m.ID))
			return nil
		}
		srv, raw, ok := s.serverResponse(m)
		if !ok {
			return nil
		}
		c, err := s.conn(ctx, srv)
		if err != nil {
			return err
		}
		return c.Send(ctx, raw)
	}
	switch mcp.ClientNotification(m.Method) {
	case mcp.Forward:
	case mcp.RefuseCall:
		s.refuseCall(ctx, who, task, m)
		return nil
	default:
		s.g.o.Log.Warn("dropped a notification toolgate does not forward", "session", s.id, "method", m.Method)
		return nil
	}
	if m.Method == "notifications/cancelled" {
		return s.cancelled(ctx, m)
	}
	raw, err := gate.Forwardable(m)
	if err != nil {
		return err
	}
	// Other notifications (initialized, roots/list_changed, progress of a
	// client's answer) go to every server of the session.
	var errs []error
	for _, sc := range s.openConns() {
		if err := sc.conn.Send(ctx, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sc.srv.Name, err))
		}
	}
	if len(errs) > 0 && len(errs) == len(s.openConns()) {
		return errors.Join(errs...)
	}
	for _, err := range errs {
		s.g.o.Log.Warn("cannot pass a notification on to an MCP server", "session", s.id, "error", err)
	}
	return nil
}

// refuseCall records a tools/call sent as a notification: it could not be
// answered with a decision, so it is never forwarded.
func (s *session) refuseCall(ctx context.Context, who *auth.Caller, taskHeader string, m *jsonrpc.Message) {
	srv := s.ep.servers[0]
	if p, err := gate.ParseParams(m.Params); err == nil && s.ep.aggregated {
		if routed, _ := s.route(p.Name); routed != nil {
			srv = routed
		}
	}
	d := &dispatch{s: s, m: m, who: who, taskHeader: taskHeader}
	dec := srv.Gate.RefuseNotificationCall(ctx, d.caller(taskHeader), m.Params)
	s.g.o.Log.Warn("refused a tools/call sent as a notification", "session", s.id, "server", srv.Name, "decision_id", dec.ID)
}

// cancelled stops a request the client gave up on: one still being judged
// is never forwarded; the notification goes to the server that has it.
func (s *session) cancelled(ctx context.Context, m *jsonrpc.Message) error {
	var p map[string]json.RawMessage
	_ = json.Unmarshal(m.Params, &p)
	key, err := jsonrpc.IDKey(p["requestId"])
	if err != nil {
		return nil
	}
	s.mu.Lock()
	in := s.inflight[key]
	s.mu.Unlock()
	if in == nil {
		return nil
	}
	in.cancel()
	if in.server == "" {
		return nil
	}
	srv := s.g.byName[in.server]
	c, err := s.conn(ctx, srv)
	if err != nil {
		return err
	}
	raw, err := gate.Forwardable(m)
	if err != nil {
		return err
	}
	return c.Send(ctx, raw)
}

// request handles a request of the client.
func (s *session) request(who *auth.Caller, taskHeader string, m *jsonrpc.Message, rp *responder) {
	key, _ := jsonrpc.IDKey(m.ID) // Parse checked it
	if mcp.ClientRequest(m.Method) == mcp.Refuse {
		rp.answer(jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeMethodNotFound,
			fmt.Sprintf("toolgate does not forward method %q: only the methods of the MCP specification reach the server", m.Method), nil))
		return
	}
	raw, err := gate.Forwardable(m)
	if err != nil {
		rp.answer(jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeInvalidParams, err.Error(), nil))
		return
	}
	// A tools/call is bounded by the request timeout only while the server
	// works on it (dispatch.toolsCall): waiting for a human's approval has
	// its own, longer timeout.
	var ctx context.Context
	var cancel context.CancelFunc
	if m.Method == "tools/call" {
		ctx, cancel = context.WithCancel(s.ctx)
	} else {
		ctx, cancel = context.WithTimeout(s.ctx, s.g.o.Config.Gateway.RequestTimeout)
	}
	defer cancel()
	in := &inflight{cancel: cancel}
	s.mu.Lock()
	if s.inflight[key] != nil {
		s.mu.Unlock()
		rp.answer(jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeInvalidRequest,
			"request id "+string(m.ID)+" is already in use by a request that has not been answered yet", nil))
		return
	}
	s.inflight[key] = in
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, key)
		s.mu.Unlock()
	}()
	d := &dispatch{s: s, m: m, raw: raw, rp: rp, in: in, who: who, taskHeader: taskHeader}
	rp.answer(d.run(ctx))
}
