// Package redirect decides which HTTP redirects toolgate's outgoing clients
// follow. A redirect re-sends a request — with its headers and body — to
// wherever the server says: to an upstream's brokered secrets, a per-call
// token and a call's arguments, an IdP's client credentials, a webhook's
// signed approval link, a redirect to another origin is a leak. So:
// clients that carry a call (upstream MCP servers) follow none, and clients
// that talk to configured services (identity providers, token exchange,
// webhooks, JWKS, discovery, exporters) follow only redirects that stay on
// the origin they were configured with.
package redirect

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// maxHops bounds a chain of same-origin redirects (net/http's default).
const maxHops = 10

// Error is a refused redirect.
type Error struct {
	From, To *url.URL
	// Cross is true when To is another origin (false: no redirect at all is
	// followed, or too many).
	Cross bool
}

func (e *Error) Error() string {
	if e.Cross {
		return fmt.Sprintf("the server at %s redirected to another origin (%s); toolgate does not follow it", origin(e.From), origin(e.To))
	}
	return fmt.Sprintf("the server at %s answered with a redirect (to %s); toolgate does not follow redirects from this server", origin(e.From), origin(e.To))
}

// Never is an http.Client CheckRedirect that follows no redirect: the
// request fails with an *Error, and nothing is sent to the new location.
func Never(req *http.Request, via []*http.Request) error {
	return &Error{From: via[0].URL, To: req.URL}
}

// SameOrigin is an http.Client CheckRedirect that follows a redirect only to
// the origin (scheme, host and port) of the first request, at most maxHops
// times.
func SameOrigin(req *http.Request, via []*http.Request) error {
	if origin(req.URL) != origin(via[0].URL) {
		return &Error{From: via[0].URL, To: req.URL, Cross: true}
	}
	if len(via) >= maxHops {
		return &Error{From: via[0].URL, To: req.URL}
	}
	return nil
}

// Client returns a client like c (a new one with no timeout if nil) whose
// redirects check follows. c itself is not changed.
func Client(c *http.Client, check func(*http.Request, []*http.Request) error) *http.Client {
	out := &http.Client{}
	if c != nil {
		*out = *c
	}
	out.CheckRedirect = check
	return out
}

// origin is scheme://host:port, lowercased, with the scheme's default port
// made explicit.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
