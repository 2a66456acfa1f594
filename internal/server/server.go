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
	"github.com/toolgate/toolgate/internal/httpapi"
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
}

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

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	authn := s.authn
	if authn == nil {
		authn = func(h http.Handler) http.Handler { return h }
	}
	mux.Handle("POST /access/v1/evaluation", authn(http.HandlerFunc(s.evaluation)))
	mux.Handle("POST /access/v1/evaluations", authn(http.HandlerFunc(s.evaluations)))
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
	mux.HandleFunc("GET /.well-known/authzen-configuration", s.discovery)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	for _, r := range s.extra {
		mux.Handle(r.pattern, r.h)
	}
	return requestID(mux)
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
	c, err := req.Call(s.now())
	if err != nil {
		requestError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, authzen.Response(s.decide(r.Context(), c)))
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
	if req.Single() {
		item := req.Items()[0]
		if item.Subject == nil || item.Action == nil || item.Resource == nil {
			requestError(w, &authzen.Error{Code: authzen.CodeInvalidRequest, Message: "subject, action and resource are required (or an evaluations array)"})
			return
		}
		c, err := item.Call(s.now())
		if err != nil {
			requestError(w, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, authzen.Response(s.decide(r.Context(), c)))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, req.Evaluate(r.Context(), s.now(), s.decide))
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
