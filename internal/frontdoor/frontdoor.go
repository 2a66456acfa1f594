// Package frontdoor is the one HTTP middleware every route of `toolgate
// serve` goes through (AuthZEN, the admin API, /mcp, approvals, metrics,
// health), so that no route can be reached around it:
//
//   - Host: on a loopback listener only loopback names (localhost,
//     *.localhost, 127.0.0.0/8, ::1) and http.allowed_hosts are accepted.
//     A web page whose name was rebound to 127.0.0.1 (DNS rebinding) sends
//     its own name and is refused.
//   - Origin: a browser's Origin header must be toolgate's own origin (same
//     host and port as the request's Host) or one of http.allowed_origins.
//     A page on another port of the same machine is another origin. For
//     methods that change state, a Sec-Fetch-Site other than same-origin or
//     none is refused likewise.
//   - Content type: a request with a body must say what the body is, and
//     the route must take that type: JSON (application/json) unless the
//     route declares otherwise (Accept). text/plain, forms and multipart
//     bodies — what a cross-site page can send without asking the browser
//     first — reach no JSON endpoint.
//   - Body: read whole before the route's handler runs, within
//     http.body_timeout (a body trickled one byte at a time is cut off) and
//     http.max_body_bytes.
//
// Refusals use the error body of every toolgate API:
// {"error": {"code": "request.…", "message": "…"}}.
package frontdoor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/httpapi"
)

// Defaults.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxBodyBytes      = 4 << 20
	DefaultMaxHeaderBytes    = 64 << 10
)

// Stable error codes of refusals.
const (
	CodeHost        = "request.host_refused"
	CodeOrigin      = "request.origin_refused"
	CodeContentType = "request.content_type"
	CodeTooLarge    = "request.too_large"
	CodeTimeout     = "request.timeout"
	CodeInvalid     = "request.invalid"
)

// Media types routes take.
const (
	JSON = "application/json"
	Form = "application/x-www-form-urlencoded"
)

// Config is the `http:` part of the configuration.
type Config struct {
	// AllowedHosts are Host header values accepted besides the loopback
	// names (on a loopback listener). "*" accepts any. On a listener that
	// is not loopback, an empty list accepts any Host.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AllowedOrigins are browser origins (scheme://host[:port]) allowed
	// besides toolgate's own. "*" allows any.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyTimeout bounds reading a request's whole body (default 30s).
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// IdleTimeout closes a kept-alive connection idle that long (120s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxBodyBytes bounds a request body (default 4 MiB, and at least
	// mcp.max_message_bytes). Routes may bound theirs lower.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxHeaderBytes bounds a request's headers (default 64 KiB).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
}

// ApplyDefaults fills in every unset field.
func (c *Config) ApplyDefaults() {
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
}

// Validate returns every problem, each naming its key under http.
func (c *Config) Validate() []string {
	var errs []string
	for _, h := range c.AllowedHosts {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, "/ ") {
			errs = append(errs, fmt.Sprintf("allowed_hosts: %q is not a host name (or host:port, or *)", h))
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		if _, ok := normOrigin(o); !ok {
			errs = append(errs, fmt.Sprintf("allowed_origins: %q is not an origin (http[s]://host[:port], or *)", o))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read_header_timeout", c.ReadHeaderTimeout}, {"body_timeout", c.BodyTimeout}, {"idle_timeout", c.IdleTimeout}} {
		if d.v < 0 {
			errs = append(errs, d.name+": must not be negative")
		}
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, "max_body_bytes: must not be negative")
	}
	if c.MaxHeaderBytes < 0 {
		errs = append(errs, "max_header_bytes: must not be negative")
	}
	return errs
}

// Door applies the policy.
type Door struct {
	cfg      Config
	loopback bool
	origins  map[string]bool // normalised allowed origins
	anyOrig  bool
	// refused counts refusals by kind (metrics); may be nil.
	refused func(kind string)
}

// New builds the door. loopback says the listener is on a loopback
// address; refused, if not nil, is told of every refusal by kind
// (host_refused, origin_refused, content_type, body_too_large,
// body_timeout).
func New(cfg Config, loopback bool, refused func(kind string)) *Door {
	cfg.ApplyDefaults()
	d := &Door{cfg: cfg, loopback: loopback, origins: map[string]bool{}, refused: refused}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			d.anyOrig = true
		} else if n, ok := normOrigin(o); ok {
			d.origins[n] = true
		}
	}
	return d
}

// Config returns the configuration with defaults applied.
func (d *Door) Config() Config { return d.cfg }

// Server returns an http.Server for h with the door's timeouts. There is no
// ReadTimeout or WriteTimeout on the connection: MCP event streams and
// calls that wait for a person's approval are long. Bodies get their own
// deadline (Route).
func (d *Door) Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: d.cfg.ReadHeaderTimeout,
		IdleTimeout:       d.cfg.IdleTimeout,
		MaxHeaderBytes:    d.cfg.MaxHeaderBytes,
	}
}

// Wrap checks every request's Host and Origin before next (the routes)
// sees it.
func (d *Door) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.hostAllowed(r.Host) {
			d.refuse(w, "host_refused", http.StatusForbidden, CodeHost,
				"the Host header "+quote(r.Host)+" is not allowed (DNS rebinding protection; see http.allowed_hosts)")
			return
		}
		if msg := d.checkOrigin(r); msg != "" {
			d.refuse(w, "origin_refused", http.StatusForbidden, CodeOrigin, msg+" (see http.allowed_origins)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// accepting is a route that declares the media types of its bodies.
type accepting struct {
	http.Handler
	types []string
}

// Accept declares that the route h takes bodies of the given media types
// (JSON if never declared).
func Accept(h http.Handler, types ...string) http.Handler {
	return accepting{h, types}
}

// Route checks a request's content type against what h takes and reads its
// body, bounded in size and time, before h runs.
func (d *Door) Route(h http.Handler) http.Handler {
	types := []string{JSON}
	if a, ok := h.(accepting); ok {
		types = a.types
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasBody(r) {
			h.ServeHTTP(w, r)
			return
		}
		if msg := contentType(r.Header, types); msg != "" {
			d.refuse(w, "content_type", http.StatusUnsupportedMediaType, CodeContentType, msg)
			return
		}
		if !d.readBody(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hasBody tells whether a request carries a body (or may: a chunked one
// of unknown length).
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

// contentType returns why the request's declared content type is not one
// of types, or "". The decision is on the parsed media type (RFC 9110
// §8.3.1: case-insensitive type, parameters), never on the raw header.
func contentType(h http.Header, types []string) string {
	vs := h.Values("Content-Type")
	if len(vs) == 0 {
		return "the request has a body but no Content-Type; this endpoint takes " + strings.Join(types, " or ")
	}
	if len(vs) > 1 {
		return "the request has more than one Content-Type header"
	}
	if vs[0] == JSON && slices.Contains(types, JSON) {
		return "" // what nearly every client sends: parsing gives the same
	}
	mt, params, err := mime.ParseMediaType(vs[0])
	if err != nil {
		return "the Content-Type " + quote(vs[0]) + " cannot be parsed: " + err.Error()
	}
	if !slices.Contains(types, mt) {
		return "this endpoint takes " + strings.Join(types, " or ") + ", not " + quote(mt)
	}
	for k, v := range params {
		if k != "charset" {
			return "the Content-Type parameter " + quote(k) + " is not accepted"
		}
		if !strings.EqualFold(v, "utf-8") {
			return "the body must be UTF-8, not " + quote(v)
		}
	}
	return ""
}

// readBody reads the whole body under the door's deadline and bound and
// puts it back for the handler. It answers the request itself (and
// returns false) when the body cannot be read.
func (d *Door) readBody(w http.ResponseWriter, r *http.Request) bool {
	max := d.cfg.MaxBodyBytes
	if r.ContentLength > max {
		w.Header().Set("Connection", "close")
		d.refuse(w, "body_too_large", http.StatusRequestEntityTooLarge, CodeTooLarge,
			fmt.Sprintf("the request body of %d bytes is larger than the limit of %d (http.max_body_bytes)", r.ContentLength, max))
		return false
	}
	rc := http.NewResponseController(w)
	// A connection that cannot take a deadline (a test recorder) is read
	// without one.
	deadline := rc.SetReadDeadline(time.Now().Add(d.cfg.BodyTimeout)) == nil
	var body []byte
	var err error
	if r.ContentLength > 0 {
		// The server's body reader stops at Content-Length: read exactly
		// that much into a buffer of that size.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, max+1))
	}
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		d.refuse(w, "body_timeout", http.StatusRequestTimeout, CodeTimeout,
			fmt.Sprintf("the request body did not arrive within %s (http.body_timeout)", d.cfg.BodyTimeout))
		return false
	case err != nil:
		w.Header().Set("Connection", "close")
		d.refuse(w, "body_unreadable", http.StatusBadRequest, CodeInvalid, "the request body cannot be read: "+err.Error())
		return false
	case int64(len(body)) > max:
		w.Header().Set("Connection", "close")
		d.refuse(w, "body_too_large", http.StatusRequestEntityTooLarge, CodeTooLarge,
			fmt.Sprintf("the request body is larger than the limit of %d bytes (http.max_body_bytes)", max))
		return false
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return true
}

func (d *Door) refuse(w http.ResponseWriter, kind string, status int, code, msg string) {
	if d.refused != nil {
		d.refused(kind)
	}
	httpapi.WriteError(w, status, code, msg)
}

func (d *Door) hostAllowed(host string) bool {
	h := hostname(host)
	for _, a := range d.cfg.AllowedHosts {
		if a == "*" || strings.EqualFold(a, host) || strings.EqualFold(a, h) {
			return true
		}
	}
	if d.loopback {
		return isLoopbackName(h)
	}
	return len(d.cfg.AllowedHosts) == 0
}

// checkOrigin returns why the request's origin is refused, or "".
func (d *Door) checkOrigin(r *http.Request) string {
	if safeMethod(r.Method) && strings.HasPrefix(r.URL.Path, "/.well-known/") {
		// Public documents (RFC 9728 metadata, JWKS, AuthZEN discovery),
		// meant to be read from anywhere.
		return ""
	}
	vs := r.Header.Values("Origin")
	if len(vs) > 1 {
		return "the request has more than one Origin header"
	}
	if len(vs) == 1 {
		o := vs[0]
		if d.anyOrig {
			return ""
		}
		n, ok := normOrigin(o)
		switch {
		case !ok:
			return "the Origin " + quote(o) + " is not allowed"
		case d.origins[n], sameOrigin(n, r.Host):
			return ""
		}
		return "the Origin " + quote(o) + " is not this server's origin"
	}
	// No Origin. Browsers send one with every request that changes state;
	// Sec-Fetch-Site, where sent, says the same in other words.
	if safeMethod(r.Method) {
		return ""
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
		return ""
	default:
		if d.anyOrig {
			return ""
		}
		return "a " + quote(site) + " request (Sec-Fetch-Site) without an allowed Origin is not accepted"
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// normOrigin returns the origin scheme://host[:port] in lower case, with
// the scheme's default port left out; ok is false for anything that is not
// an http(s) origin ("null", paths, user information).
func normOrigin(o string) (string, bool) {
	o = strings.TrimSuffix(o, "/")
	if strings.ContainsAny(o, "?#") {
		return "", false
	}
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || (port == "80" && scheme == "http") || (port == "443" && scheme == "https") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, true
	}
	return scheme + "://" + host, true
}

// sameOrigin tells whether the normalised origin o is the origin the
// request was sent to: the same host and port as its Host header. The
// scheme is not compared: behind a proxy that ends TLS, toolgate sees
// http for an https page, and a host and port serve one scheme.
func sameOrigin(o, host string) bool {
	scheme, hostport, _ := strings.Cut(o, "://")
	oHost, oPort := hostname(hostport), ""
	if _, p, err := net.SplitHostPort(hostport); err == nil {
		oPort = p
	}
	if oPort == "" {
		oPort = defaultPort(scheme)
	}
	rHost, rPort := strings.ToLower(hostname(host)), ""
	if _, p, err := net.SplitHostPort(host); err == nil {
		rPort = p
	}
	if !strings.EqualFold(oHost, rHost) {
		return false
	}
	if rPort == "" {
		// A Host without a port names the scheme's default port; which
		// scheme the client used is not known behind a proxy.
		return oPort == "80" || oPort == "443"
	}
	return oPort == rPort
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return fmt.Sprintf("%q", s)
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}

// isLoopbackName tells whether h names the loopback interface by itself:
// localhost (RFC 6761 keeps it and its subdomains there), or a loopback
// address literal. Anything else may resolve elsewhere tomorrow.
func isLoopbackName(h string) bool {
	lh := strings.ToLower(strings.TrimSuffix(h, "."))
	if lh == "localhost" || strings.HasSuffix(lh, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
