// Package httpgw is the MCP Streamable HTTP front door of `toolgate serve`:
// one governed endpoint for many servers and many agents.
//
//   - /mcp offers every configured server's tools, resources and prompts,
//     named "<server><sep><name>" (sep is mcp.gateway.separator, "/" by
//     default; no server name contains it, so names cannot collide);
//   - /mcp/{server} offers one server unchanged (only tools/list is
//     filtered and tools/call judged, as by `toolgate run`);
//   - /sse and /sse/{server} with /message serve the legacy HTTP+SSE
//     transport (MCP 2024-11-05) for old clients.
//
// Every tools/call goes through internal/mcp/gate and the enforcement
// pipeline, and reaches the upstream only from inside the pipeline's
// forward step. Upstreams are internal/mcp/upstream connections, one per
// client session and server.
package httpgw

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/internal/mcp/upstream"
	"github.com/toolgate/toolgate/internal/server/auth"
)

// Server is one upstream server as the gateway offers it.
type Server struct {
	Name     string
	Upstream upstream.Upstream
	// Gate enforces policy on the server's tools; its Tools registry must
	// be the catalog of its pipeline (pins are checked on every call).
	Gate *gate.Gate
}

// Metrics receives what the gateway measures (internal/server's
// Prometheus collectors); nil measures nothing.
type Metrics interface {
	Decision(server, tool string, effect call.Effect, took time.Duration)
	Upstream(server, method string, took time.Duration, err error)
	Error(kind string)
}

// Options configure the gateway.
type Options struct {
	Servers []Server
	// Config is the mcp section (limits, denial, gateway settings), with
	// defaults applied.
	Config  mcp.Config
	Metrics Metrics
	Log     *slog.Logger
	// Version is toolgate's version, for serverInfo.
	Version string
	// Elicitation asks the person at the client to approve a call that
	// waits for approval (approvals.elicitation), if the client supports
	// MCP elicitation.
	Elicitation bool
}

// Gateway serves the MCP endpoints.
type Gateway struct {
	o      Options
	sep    string
	byName map[string]*Server
	all    *endpoint
	client jsonrpc.Limits

	ctx  context.Context // ends at shutdown
	stop context.CancelFunc
	// calls are the requests being handled, drained at shutdown.
	calls sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*session
	closing  bool
}

// endpoint is what one URL offers: every server (aggregated) or one.
type endpoint struct {
	servers    []*Server
	aggregated bool
}

// New checks the options.
func New(o Options) (*Gateway, error) {
	o.Config.ApplyDefaults()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		o: o, sep: o.Config.Gateway.Separator, byName: map[string]*Server{}, sessions: map[string]*session{},
		client: jsonrpc.Limits{MaxBytes: o.Config.MaxMessageBytes, MaxDepth: o.Config.MaxDepth},
	}
	g.all = &endpoint{aggregated: true}
	for i := range o.Servers {
		s := &o.Servers[i]
		if s.Name == "" || s.Upstream == nil || s.Gate == nil {
			return nil, errors.New("httpgw: a server needs a name, an upstream and a gate")
		}
		if strings.Contains(s.Name, g.sep) {
			return nil, fmt.Errorf("httpgw: server name %q contains the separator %q (mcp.gateway.separator), so its names could collide", s.Name, g.sep)
		}
		if g.byName[s.Name] != nil {
			return nil, fmt.Errorf("httpgw: two servers are named %q", s.Name)
		}
		g.byName[s.Name] = s
		g.all.servers = append(g.all.servers, s)
	}
	g.ctx, g.stop = context.WithCancel(context.Background())
	go g.expire()
	return g, nil
}

// Handler returns the MCP routes; authn is the middleware that
// authenticates each request (auth.Authenticator.Wrap), or nil.
func (g *Gateway) Handler(authn func(http.Handler) http.Handler) http.Handler {
	if authn == nil {
		authn = func(h http.Handler) http.Handler { return h }
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", authn(http.HandlerFunc(g.serveMCP)))
	mux.Handle("/mcp/{server}", authn(http.HandlerFunc(g.serveMCP)))
	mux.Handle("GET /sse", authn(http.HandlerFunc(g.serveLegacySSE)))
	mux.Handle("GET /sse/{server}", authn(http.HandlerFunc(g.serveLegacySSE)))
	mux.Handle("POST /message", authn(http.HandlerFunc(g.serveLegacyMessage)))
	// Host, Origin and content types are checked by the front door
	// (internal/frontdoor) that every route of `toolgate serve` is behind.
	return mux
}

// Routes are the patterns Handler serves, for a mux that mounts it.
var Routes = []string{"/mcp", "/mcp/{server}", "GET /sse", "GET /sse/{server}", "POST /message"}

// Ready reports upstreams that cannot take sessions (/readyz).
func (g *Gateway) Ready() error {
	var errs []error
	for _, s := range g.all.servers {
		if err := s.Upstream.Ready(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shutdown drains: requests in flight get until ctx ends to finish, then
// every session and upstream is closed. Call it after http.Server.Shutdown
// has begun (which stops new requests); open event streams are ended at
// once, since they would never become idle.
func (g *Gateway) Shutdown(ctx context.Context) error {
	sessions := g.endStreams()
	done := make(chan struct{})
	go func() { g.calls.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("httpgw: calls still in flight at shutdown: %w", ctx.Err())
	}
	g.stop()
	for _, s := range sessions {
		g.endSession(s)
	}
	for _, s := range g.all.servers {
		_ = s.Upstream.Close()
	}
	return err
}

// CloseStreams ends the open event streams (for http.Server's
// RegisterOnShutdown, so that Shutdown does not wait for them).
func (g *Gateway) CloseStreams() { g.endStreams() }

// endStreams refuses new sessions, ends the open event streams and
// returns the sessions.
func (g *Gateway) endStreams() []*session {
	g.mu.Lock()
	g.closing = true
	sessions := make([]*session, 0, len(g.sessions))
	for _, s := range g.sessions {
		sessions = append(sessions, s)
	}
	g.mu.Unlock()
	for _, s := range sessions {
		s.closeStreams()
	}
	return sessions
}

func (g *Gateway) metric(kind string) {
	if g.o.Metrics != nil {
		g.o.Metrics.Error(kind)
	}
}

// endpointOf is the endpoint a request names.
func (g *Gateway) endpointOf(r *http.Request) (*endpoint, bool) {
	name := r.PathValue("server")
	if name == "" {
		return g.all, true
	}
	s := g.byName[name]
	if s == nil {
		return nil, false
	}
	return &endpoint{servers: []*Server{s}}, true
}

// knownVersions are the MCP protocol versions the gateway speaks; a request
// naming another in MCP-Protocol-Version is refused.
var knownVersions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"}

func (g *Gateway) serveMCP(w http.ResponseWriter, r *http.Request) {
	ep, ok := g.endpointOf(r)
	if !ok {
		httpError(w, http.StatusNotFound, "no MCP server named "+quote(r.PathValue("server"))+" is configured")
		return
	}
	if v := r.Header.Get("MCP-Protocol-Version"); v != "" && !slices.Contains(knownVersions, v) {
		httpError(w, http.StatusBadRequest, "unsupported MCP-Protocol-Version "+quote(v)+" (supported: "+strings.Join(knownVersions, ", ")+")")
		return
	}
	switch r.Method {
	case http.MethodPost:
		g.post(w, r, ep)
	case http.MethodGet:
		g.get(w, r)
	case http.MethodDelete:
		s := g.sessionOf(w, r)
		if s == nil {
			return
		}
		g.endSession(s)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		httpError(w, http.StatusMethodNotAllowed, "the MCP endpoint takes GET, POST and DELETE")
	}
}

// sessionOf finds the request's session, answering 400 or 404 if there is
// none. A session is bound to the principal that opened it: presenting its
// id with another identity finds nothing.
func (g *Gateway) sessionOf(w http.ResponseWriter, r *http.Request) *session {
	id := r.Header.Get("Mcp-Session-Id")
	if id == "" {
		httpError(w, http.StatusBadRequest, "the request has no Mcp-Session-Id header; start a session with initialize")
		return nil
	}
	g.mu.Lock()
	s := g.sessions[id]
	g.mu.Unlock()
	if s == nil || s.owner != ownerOf(auth.From(r.Context())) {
		httpError(w, http.StatusNotFound, "no such session (it ended or expired); start a new one with initialize")
		return nil
	}
	s.touch()
	return s
}

func ownerOf(c *auth.Caller) string {
	if c.Token == "" {
		return ""
	}
	return string(c.Principal.Kind) + ":" + c.Principal.ID
}

func (g *Gateway) post(w http.ResponseWriter, r *http.Request, ep *endpoint) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		httpError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return
	}
	jsonOK, sseOK := accepts(r.Header.Values("Accept"))
	if !jsonOK || !sseOK {
		httpError(w, http.StatusNotAcceptable, "the Accept header must list application/json and text/event-stream")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(g.client.MaxBytes)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, jsonrpc.ErrorResponse(nil, jsonrpc.CodeInvalidRequest,
				fmt.Sprintf("message is larger than the limit of %d bytes (mcp.max_message_bytes)", g.client.MaxBytes), nil))
			return
		}
		httpError(w, http.StatusBadRequest, "cannot read the body: "+err.Error())
		return
	}
	frame, perr := jsonrpc.Parse(body, g.client)
	if perr != nil {
		g.metric("invalid_message")
		writeJSON(w, http.StatusBadRequest, perr.Response())
		return
	}
	var m *jsonrpc.Message // the message, unless a batch
	if !frame.Batch {
		m = frame.Items[0].Msg
	}
	var s *session
	if m != nil && m.Kind == jsonrpc.KindRequest && m.Method == "initialize" {
		if r.Header.Get("Mcp-Session-Id") != "" {
			httpError(w, http.StatusBadRequest, "initialize starts a new session; send it without Mcp-Session-Id")
			return
		}
		var err error
		if s, err = g.newSession(ep, auth.From(r.Context()), nil); err != nil {
			g.sessionRefused(w, err)
			return
		}
	} else if s = g.sessionOf(w, r); s == nil {
		return
	}
	if s.ep.aggregated != ep.aggregated || (!ep.aggregated && s.ep.servers[0] != ep.servers[0]) {
		httpError(w, http.StatusNotFound, "the session belongs to another endpoint")
		return
	}
	if !g.enter() {
		httpError(w, http.StatusServiceUnavailable, "toolgate is shutting down")
		return
	}
	defer g.calls.Done()
	if frame.Batch {
		g.batch(w, r, s, frame)
		return
	}
	who := auth.From(r.Context())
	if m.Kind != jsonrpc.KindRequest {
		if err := s.fromClient(g.ctx, who, r.Header.Get("X-Toolgate-Task"), m); err != nil {
			g.metric("upstream")
			writeJSON(w, http.StatusBadGateway, jsonrpc.ErrorResponse(nil, jsonrpc.CodeUpstream, err.Error(), nil))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	rp := &responder{w: w, s: s, sessionID: s.id, checkOK: m.Method == "initialize"}
	s.request(who, r.Header.Get("X-Toolgate-Task"), m, rp)
	if m.Method == "initialize" && !rp.ok {
		g.endSession(s) // a session whose initialize failed is no session
	}
}

// sessionRefused answers a request for a new session that newSession
// refused: 429 when there are too many, 503 when toolgate is closing.
func (g *Gateway) sessionRefused(w http.ResponseWriter, err error) {
	if errors.Is(err, errTooManySessions) {
		g.metric("session_limit")
		w.Header().Set("Retry-After", "60")
		httpError(w, http.StatusTooManyRequests, err.Error())
		return
	}
	httpError(w, http.StatusServiceUnavailable, err.Error())
}

// enter counts a request in flight unless the gateway is closing.
func (g *Gateway) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.calls.Add(1)
	return true
}

// get serves the standalone event stream, or resumes a stream.
func (g *Gateway) get(w http.ResponseWriter, r *http.Request) {
	if _, sseOK := accepts(r.Header.Values("Accept")); !sseOK {
		httpError(w, http.StatusNotAcceptable, "the Accept header must list text/event-stream")
		return
	}
	s := g.sessionOf(w, r)
	if s == nil {
		return
	}
	st, after := s.get, 0
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		id, n, ok := parseEventID(last)
		if st = s.findStream(id); !ok || st == nil {
			httpError(w, http.StatusNotFound, "no stream to resume for Last-Event-ID "+quote(last))
			return
		}
		after = n
	}
	startSSE(w, "")
	gone := st.attach(w, after)
	select {
	case <-gone:
	case <-r.Context().Done():
		st.detach(gone)
	case <-s.ctx.Done():
		st.detach(gone)
	}
}

// accepts reads the Accept header: does it take JSON, event streams.
func accepts(values []string) (jsonOK, sseOK bool) {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			switch mt {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				sseOK = true
			case "*/*":
				jsonOK, sseOK = true, true
			}
		}
	}
	return
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// httpError answers a transport-level problem: a JSON-RPC error object
// without id, so that MCP clients show the message.
func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, jsonrpc.ErrorResponse(nil, jsonrpc.CodeInvalidRequest, msg, nil))
}

// expire ends sessions idle for longer than the configured timeout.
func (g *Gateway) expire() {
	idle := g.o.Config.Gateway.SessionIdleTimeout
	t := time.NewTicker(min(idle/4+time.Second, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		var old []*session
		g.mu.Lock()
		for _, s := range g.sessions {
			if s.idleFor() > idle {
				old = append(old, s)
			}
		}
		g.mu.Unlock()
		for _, s := range old {
			g.o.Log.Info("ending an idle MCP session", "session", s.id)
			g.endSession(s)
		}
	}
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return `"` + s + `"`
}
