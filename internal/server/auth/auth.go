// Package auth authenticates the callers of toolgate's HTTP front doors
// (the MCP gateway, the AuthZEN API) as the MCP authorization specification
// asks of a protected resource: a bearer token in the Authorization header,
// verified by the identity stage's verifier (OIDC/OAuth JWTs from the
// configured issuers, API keys); a request without a valid one is answered
// 401 with WWW-Authenticate: Bearer resource_metadata="…", pointing at the
// RFC 9728 metadata this package also serves; a token without the required
// scopes is answered 403 insufficient_scope.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/httpapi"
	"github.com/toolgate/toolgate/internal/identity"
)

// MetadataPath is where the protected resource metadata is served (RFC
// 9728 §3: the well-known path; the resource's path is appended for a
// resource with one).
const MetadataPath = "/.well-known/oauth-protected-resource"

// Caller is who made an HTTP request.
type Caller struct {
	// Token is the raw credential (bearer token or API key); "" when no
	// identity is configured and the request is unauthenticated.
	Token string
	// Principal is what the token proves (zero when Token is "").
	Principal call.Principal
	Chain     []string
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// From returns the request's caller; an unauthenticated request (no
// identity configured) has a Caller with an empty Token.
func From(ctx context.Context) *Caller {
	if c, ok := ctx.Value(callerKey{}).(*Caller); ok {
		return c
	}
	return &Caller{}
}

// Options configure the middleware.
type Options struct {
	// Verifier verifies tokens. Nil, or one with nothing configured
	// (Enabled false), lets requests through unauthenticated: the pipeline
	// then judges calls as made by the configured default principal, or
	// denies them.
	Verifier *identity.Verifier
	// Resource is this server's resource identifier (its public base URL,
	// e.g. https://toolgate.example.com); "" derives it from each request.
	Resource string
	// AuthorizationServers are the issuers clients get tokens from; default:
	// the configured issuers.
	AuthorizationServers []string
	// Scopes are required of every token (from its "scope" or "scp" claim);
	// a token without them gets 403 insufficient_scope.
	Scopes []string
}

// Authenticator is the middleware and the metadata endpoint.
type Authenticator struct{ o Options }

// New builds the authenticator.
func New(o Options) *Authenticator { return &Authenticator{o: o} }

// Enabled tells whether requests must authenticate.
func (a *Authenticator) Enabled() bool { return a.o.Verifier != nil && a.o.Verifier.Enabled() }

// Wrap authenticates each request before next sees it.
func (a *Authenticator) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.Enabled() {
			next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), &Caller{})))
			return
		}
		raw, ok := httpapi.Bearer(r)
		if !ok {
			a.challenge(w, r, http.StatusUnauthorized, "", identity.CodeMissing, "")
			return
		}
		id, err := a.o.Verifier.Verify(r.Context(), raw)
		if err != nil {
			code := identity.CodeMalformed
			var c call.Coded
			if errors.As(err, &c) {
				code = c.ErrorCode()
			}
			a.challenge(w, r, http.StatusUnauthorized, "invalid_token", code, err.Error())
			return
		}
		if missing := a.missingScopes(raw, id); len(missing) > 0 {
			a.challenge(w, r, http.StatusForbidden, "insufficient_scope", CodeScope, "the token lacks the scopes "+strings.Join(missing, " "))
			return
		}
		c := &Caller{Token: raw, Principal: id.Principal, Chain: id.Chain}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}

// missingScopes returns the required scopes the token does not carry. The
// scopes are read from the verified principal's claims (scope or scp).
func (a *Authenticator) missingScopes(_ string, id *identity.Identity) []string {
	if len(a.o.Scopes) == 0 {
		return nil
	}
	var have []string
	for _, k := range []string{"scope", "scp"} {
		switch v := id.Principal.Claims[k].(type) {
		case string:
			have = append(have, strings.Fields(v)...)
		case []any:
			for _, s := range v {
				if s, ok := s.(string); ok {
					have = append(have, s)
				}
			}
		}
	}
	var missing []string
	for _, s := range a.o.Scopes {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// challenge answers 401 or 403 with the WWW-Authenticate header of RFC 6750
// and RFC 9728 §5.1 (code is RFC 6750's error code; stable toolgate's).
func (a *Authenticator) challenge(w http.ResponseWriter, r *http.Request, status int, code, stable, desc string) {
	parts := []string{`resource_metadata="` + a.metadataURL(r) + `"`}
	if code != "" {
		parts = append(parts, `error="`+code+`"`)
	}
	if desc != "" {
		parts = append(parts, `error_description="`+quoteSafe(desc)+`"`)
	}
	if len(a.o.Scopes) > 0 {
		parts = append(parts, `scope="`+strings.Join(a.o.Scopes, " ")+`"`)
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(parts, ", "))
	msg := desc
	if msg == "" {
		msg = "authentication required: present a bearer token (Authorization: Bearer …)"
	}
	// The body has the error shape of every toolgate API; the RFC 6750
	// error code is in WWW-Authenticate, where clients look for it.
	var b httpapi.ErrorBody
	b.Error.Code, b.Error.Message = stable, msg
	httpapi.WriteJSON(w, status, b)
}

// CodeScope is the stable code of a token without the required scopes.
const CodeScope = "identity.insufficient_scope"

// quoteSafe keeps a description inside a quoted-string.
func quoteSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '\''
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// base is the resource identifier: configured, or from the request.
func (a *Authenticator) base(r *http.Request) string {
	if a.o.Resource != "" {
		return strings.TrimSuffix(a.o.Resource, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (a *Authenticator) metadataURL(r *http.Request) string {
	return a.base(r) + MetadataPath
}

// Metadata serves the RFC 9728 protected resource metadata.
func (a *Authenticator) Metadata(issuers []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		servers := a.o.AuthorizationServers
		if len(servers) == 0 {
			servers = issuers
		}
		md := map[string]any{
			"resource":                 a.base(r),
			"authorization_servers":    nonNil(servers),
			"bearer_methods_supported": []string{"header"},
			"resource_name":            "toolgate",
		}
		if len(a.o.Scopes) > 0 {
			md["scopes_supported"] = a.o.Scopes
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_ = json.NewEncoder(w).Encode(md)
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
