// Package console is the web console of `toolgate serve`, at /console: the
// approvals inbox, live decisions, the audit trail, tasks, policies and
// tools, for the people around agents. It is server-rendered HTML from
// templates embedded in the binary, with one small script of its own (live
// updates); it loads nothing from anywhere else.
//
// People sign in with their identity provider (OpenID Connect,
// authorization code flow with PKCE), with a person's API key, or with the
// local admin key. What each may see and do is decided by the
// organisation's Cedar policies (Action::"Approve", Action::"ReadTrail",
// Action::"RevokeTask", … in authz.go); the local admin key's holder is the
// local operator, who may do everything, like the CLI on the data
// directory.
//
// Sessions are random ids in HttpOnly, SameSite=Strict cookies (Secure
// unless served over plain http on loopback), with an absolute and an idle
// expiry. Every change is a POST that carries the session's CSRF token and
// passes the front door's Origin check.
//
// This package is a leaf for configuration: internal/config embeds Config,
// so nothing here may import the configuration or the packages that do.
package console

import (
	"context"
	"crypto/ed25519"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/frontdoor"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/mcp/pin"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/task"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Stable error codes of the console.
const (
	CodeCSRF      = "console.csrf"
	CodeSignIn    = "console.sign_in"
	CodeSession   = "console.session"
	CodeForbidden = "console.forbidden"
	CodeNotFound  = "console.not_found"
	CodeInvalid   = "console.invalid"
	CodeStore     = "console.store"
)

// Policies are the policies in force (policy.Engine).
type Policies interface {
	Layers() []*policy.Set
	LastReloadError() string
	WatchError() string
}

// Server is a configured upstream server as the tools page shows it.
type Server struct {
	Name   string
	Trust  string
	Labels []string
	// Transport says how it is reached: "stdio: <command>" or its URL.
	Transport string
}

// Options are the parts the console works with. Approvals, Policies and
// Identity are required; a page whose part is nil says it is not
// available.
type Options struct {
	Approvals *approval.Service
	Tasks     *task.Service
	// Trail is the audit trail (nil when the sink keeps it elsewhere:
	// jsonl).
	Trail store.AuditLog
	// TrailKeys are the public keys the trail's checkpoints verify with.
	TrailKeys func(ctx context.Context) ([]ed25519.PublicKey, error)
	Policies  Policies
	// DryRun decides a call against the current policies with no side
	// effect (enforce.Pipeline.DryRun).
	DryRun  func(ctx context.Context, c *call.Call) call.Decision
	Servers []Server
	// Pins opens one server's pins.
	Pins     func(server string) (*pin.Store, error)
	Identity *identity.Verifier
	// AdminKey is the local admin key ("" when admin-key sign-in is off).
	AdminKey string
	// BaseURL is the console's origin as browsers reach it (for the OIDC
	// redirect); Secure makes cookies Secure.
	BaseURL string
	Secure  bool
	// OIDCSecret is the client secret read from oidc.client_secret_file.
	OIDCSecret string
	HTTPClient *http.Client
	Limits     cedarjson.Limits
	Log        *slog.Logger
	Now        func() time.Time
	// Poll is how often live views look for changes made by other
	// processes (default 1s).
	Poll time.Duration
}

// Console is the web console.
type Console struct {
	cfg      Config
	o        Options
	sessions *sessions
	cookies  cookies
	pages    map[string]*template.Template
	oidc     *oidcClient

	verifyMu sync.Mutex
	verified *verifyResult

	stop     chan struct{}
	stopOnce sync.Once
}

// New builds the console. cfg gets its defaults applied.
func New(cfg Config, o Options) (*Console, error) {
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("console: %s", strings.Join(errs, "; "))
	}
	if o.Approvals == nil || o.Policies == nil || o.Identity == nil {
		return nil, errors.New("console: approvals, policies and identity are required")
	}
	if o.Limits == (cedarjson.Limits{}) {
		o.Limits = cedarjson.DefaultLimits()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	c := &Console{cfg: cfg, o: o, cookies: cookies{secure: o.Secure}, stop: make(chan struct{})}
	c.sessions = newSessions(cfg.SessionTTL, cfg.IdleTimeout, o.Now)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	if cfg.OIDC != nil {
		c.oidc = newOIDC(cfg.OIDC, o.OIDCSecret, strings.TrimRight(o.BaseURL, "/")+callbackPath, o.HTTPClient, o.Now)
	}
	return c, nil
}

// CloseStreams ends the live streams (serve is shutting down).
func (c *Console) CloseStreams() { c.stopOnce.Do(func() { close(c.stop) }) }

// Paths of the console.
const (
	Root         = "/console"
	signInPath   = "/console/signin"
	startPath    = "/console/auth/start"
	callbackPath = "/console/auth/callback"
)

// Routes returns the console's routes: pattern → handler, for
// server.Handle. Forms post application/x-www-form-urlencoded.
func (c *Console) Routes() map[string]http.Handler {
	form := func(h http.HandlerFunc) http.Handler { return frontdoor.Accept(h, frontdoor.Form) }
	r := map[string]http.Handler{
		"GET /console":                           http.RedirectHandler("/console/", http.StatusSeeOther),
		"GET /console/{$}":                       c.page(c.home),
		"GET /console/static/{file}":             http.HandlerFunc(c.static),
		"GET " + signInPath:                      http.HandlerFunc(c.signInPage),
		"POST " + signInPath:                     form(c.signInKey),
		"GET " + startPath:                       http.HandlerFunc(c.oidcStart),
		"GET " + callbackPath:                    http.HandlerFunc(c.oidcCallback),
		"POST /console/signout":                  form(c.change(c.signOut)),
		"GET /console/approvals":                 c.page(c.approvalsPage),
		"GET /console/approvals/list":            c.page(c.approvalsList),
		"POST /console/approvals/{id}":           form(c.change(c.answer)),
		"GET /console/events":                    c.page(c.events),
		"GET /console/decisions":                 c.page(c.decisionsPage),
		"GET /console/decisions/rows":            c.page(c.decisionRows),
		"GET /console/decisions/{id}":            c.page(c.decisionPage),
		"GET /console/audit":                     c.page(c.auditPage),
		"GET /console/audit/export":              c.page(c.auditExport),
		"POST /console/audit/verify":             form(c.change(c.auditVerify)),
		"GET /console/tasks":                     c.page(c.tasksPage),
		"GET /console/tasks/{id}/revoke":         c.page(c.revokeTaskPage),
		"POST /console/tasks/{id}/revoke":        form(c.change(c.revokeTask)),
		"GET /console/agents/{id}/revoke":        c.page(c.revokeAgentPage),
		"POST /console/agents/{id}/revoke":       form(c.change(c.revokeAgent)),
		"GET /console/policies":                  c.page(c.policiesPage),
		"POST /console/policies/try":             form(c.change(c.tryPolicy)),
		"GET /console/tools":                     c.page(c.toolsPage),
		"POST /console/tools/{server}/{verdict}": form(c.change(c.pinVerdict)),
	}
	return r
}

// handler is a console handler with its session.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// session returns the request's live session, or nil. A request of the
// page's own script (X-Console) does not count as use for the idle
// timeout.
func (c *Console) session(r *http.Request) (*session, string) {
	ck, err := r.Cookie(c.cookies.session())
	if err != nil {
		return nil, ""
	}
	if r.Header.Get("X-Console") != "" || strings.HasSuffix(r.URL.Path, "/events") {
		return c.sessions.peek(ck.Value), ck.Value
	}
	return c.sessions.get(ck.Value), ck.Value
}

// page serves a view: without a live session a browser is sent to sign
// in; a script (asking for a fragment or a stream) gets 401.
func (c *Console) page(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		s, _ := c.session(r)
		if s == nil {
			if r.Header.Get("X-Console") != "" || strings.HasSuffix(r.URL.Path, "/events") {
				c.fail(w, r, nil, http.StatusUnauthorized, CodeSession, "your session has ended; sign in again")
				return
			}
			http.Redirect(w, r, signInPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, s)
	})
}

// change serves a POST that changes something: it needs a live session and
// the session's CSRF token, in the form (csrf) or the X-CSRF-Token header.
func (c *Console) change(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		s, _ := c.session(r)
		if s == nil {
			c.fail(w, r, nil, http.StatusUnauthorized, CodeSession, "your session has ended; sign in again")
			return
		}
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, s, http.StatusBadRequest, CodeInvalid, "the form cannot be read")
			return
		}
		tok := r.PostForm.Get("csrf")
		if tok == "" {
			tok = r.Header.Get("X-CSRF-Token")
		}
		if !sameToken(tok, s.CSRF) {
			c.o.Log.Warn("console: a change without the session's CSRF token was refused", "path", r.URL.Path, "person", s.Name())
			c.fail(w, r, s, http.StatusForbidden, CodeCSRF, "the request does not carry this session's CSRF token; reload the page and try again")
			return
		}
		h(w, r, s)
	}
}

// secureHeaders are on every console response: nothing but the console's
// own script and style runs, no framing, nothing cached.
func secureHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// home sends a person to the first page they may use.
func (c *Console) home(w http.ResponseWriter, r *http.Request, _ *session) {
	http.Redirect(w, r, "/console/approvals", http.StatusSeeOther)
}

func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(assets, "static/"+name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	switch {
	case strings.HasSuffix(name, ".js"):
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	case strings.HasSuffix(name, ".css"):
		h.Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".svg"):
		h.Set("Content-Type", "image/svg+xml")
	default:
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
