// Package server is toolgate's HTTP front door (`toolgate serve`): the
// AuthZEN decision API and the operational endpoints. The MCP gateway, the
// admin API and the console are added by later work on the same mux.
package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/toolgate/toolgate/internal/authzen"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/frontdoor"
	"github.com/toolgate/toolgate/internal/httpapi"
	"github.com/toolgate/toolgate/internal/server/auth"
)

// Decider judges one call (the enforcement pipeline).
type Decider interface {
	Decide(ctx context.Context, c *call.Call) call.Decision
}

// Check is a readiness check: nil when the part it checks can serve.
type Check func() error

// Server holds the handlers.
type Server struct {
	decider Decider
	log     *slog.Logger
	ready   map[string]Check
	now     func() time.Time
	extra   []route
	authn   func(http.Handler) http.Handler
	metrics *Metrics
	door    *frontdoor.Door
}

// Door puts every route behind d (Host, Origin, content types, bodies).
// Without it the routes are behind a door with the defaults, for a
// listener that is not on loopback. Call it before Handler.
func (s *Server) Door(d *frontdoor.Door) { s.door = d }

// Authenticate makes the AuthZEN endpoints take only callers that the
// middleware lets through (auth.Authenticator.Wrap, when identity is
// configured). Call it before Handler.
func (s *Server) Authenticate(wrap func(http.Handler) http.Handler) { s.authn = wrap }

// Measure counts AuthZEN decisions in m and serves m at /metrics. Call it
// before Handler.
func (s *Server) Measure(m *Metrics) { s.metrics = m }

// decide runs the decider and measures it.
func (s *Server) decide(ctx context.Context, c *call.Call) call.Decision {
	start := time.Now()
	d := s.decider.Decide(ctx, c)
	if s.metrics != nil {
		s.metrics.decide("authzen", c.Server.Name, c.Tool.Name, d.Effect, time.Since(start))
	}
	return d
}

type route struct {
	pattern string
	h       http.Handler
}

// Handle adds a route served by another package (admin API, MCP gateway,
// JWKS); call it before Handler. Patterns are net/http ServeMux patterns.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.extra = append(s.extra, route{pattern, h})
}

// New builds the server. ready names the checks of /readyz.
func New(d Decider, log *slog.Logger, ready map[string]Check) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{decider: d, log: log, ready: ready, now: time.Now}
}

// Handler returns the HTTP routes, every one behind the front door.
func (s *Server) Handler() http.Handler {
	door := s.door
	if door == nil {
		door = frontdoor.New(frontdoor.Config{}, false, nil)
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) { mux.Handle(pattern, door.Route(h)) }
	authn := s.authn
	if authn == nil {
		authn = func(h http.Handler) http.Handler { return h }
	}
	handle("POST /access/v1/evaluation", authn(http.HandlerFunc(s.evaluation)))
	handle("POST /access/v1/evaluations", authn(http.HandlerFunc(s.evaluations)))
	if s.metrics != nil {
		handle("GET /metrics", s.metrics.Handler())
	}
	handle("GET /.well-known/authzen-configuration", http.HandlerFunc(s.discovery))
	handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	handle("GET /readyz", http.HandlerFunc(s.readyz))
	for _, r := range s.extra {
		handle(r.pattern, r.h)
	}
	return door.Wrap(requestID(notFound(mux)))
}

// notFound answers a request that no route takes with the error body of
// every toolgate API (ServeMux's own answers are plain text).
func notFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// 404, or 405 with the Allow header: let the mux say which.
		rec := &statusOnly{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.status == http.StatusMethodNotAllowed {
			httpapi.WriteError(w, rec.status, "request.method", r.Method+" is not allowed on "+r.URL.Path)
			return
		}
		httpapi.WriteError(w, http.StatusNotFound, "request.not_found", "there is nothing at "+r.URL.Path)
	})
}

// statusOnly keeps the status and headers of a response and drops its body.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header { return s.header }
func (s *statusOnly) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *statusOnly) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(b), nil
}

// requestID echoes X-Request-ID, as AuthZEN asks.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("X-Request-ID"); id != "" {
			w.Header().Set("X-Request-ID", id)
		}
		next.ServeHTTP(w, r)
	})
}

// readBody reads a bounded JSON body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, authzen.MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpapi.WriteError(w, http.StatusRequestEntityTooLarge, authzen.CodeTooLarge, "request body is larger than the limit")
		} else {
			httpapi.WriteError(w, http.StatusBadRequest, authzen.CodeInvalidRequest, "cannot read the request body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

func requestError(w http.ResponseWriter, err error) {
	if resp, ok := authzen.Unsupported(err); ok {
		// Well formed, but not about a tool call: a decision, false.
		httpapi.WriteJSON(w, http.StatusOK, resp)
		return
	}
	var ae *authzen.Error
	if errors.As(err, &ae) {
		status := http.StatusBadRequest
		if ae.Code == authzen.CodeTooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		httpapi.WriteError(w, status, ae.Code, ae.Error())
		return
	}
	httpapi.WriteError(w, http.StatusBadRequest, authzen.CodeInvalidRequest, err.Error())
}

func (s *Server) evaluation(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	req, err := authzen.ParseEvaluation(body)
	if err != nil {
		requestError(w, err)
		return
	}
	c, err := req.CallAs(s.now(), caller(r))
	if err != nil {
		requestError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, authzen.Response(s.decide(r.Context(), c)))
}

// caller is the request's authenticated caller, nil if nobody
// authenticated (no identity configured).
func caller(r *http.Request) *call.Principal {
	if c := auth.From(r.Context()); c.Token != "" {
		p := c.Principal
		return &p
	}
	return nil
}

func (s *Server) evaluations(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	req, err := authzen.ParseEvaluations(body)
	if err != nil {
		requestError(w, err)
		return
	}
	who := caller(r)
	if req.Single() {
		item := req.Items()[0]
		if (item.Subject == nil && who == nil) || item.Action == nil || item.Resource == nil {
			requestError(w, &authzen.Error{Code: authzen.CodeInvalidRequest, Message: "subject, action and resource are required (or an evaluations array)"})
			return
		}
		c, err := item.CallAs(s.now(), who)
		if err != nil {
			requestError(w, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, authzen.Response(s.decide(r.Context(), c)))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, req.Evaluate(r.Context(), s.now(), who, s.decide))
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + r.Host
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{
		"policy_decision_point":       base,
		"access_evaluation_endpoint":  base + "/access/v1/evaluation",
		"access_evaluations_endpoint": base + "/access/v1/evaluations",
	})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	status := http.StatusOK
	out := map[string]string{}
	for name, check := range s.ready {
		if err := check(); err != nil {
			status = http.StatusServiceUnavailable
			out[name] = err.Error()
		} else {
			out[name] = "ok"
		}
	}
	httpapi.WriteJSON(w, status, out)
}
