package httpgw

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// checkOrigin protects against DNS rebinding, as the Streamable HTTP
// transport asks: a web page on another site that got its name to resolve
// to the gateway's address must not reach it. So
//   - on a loopback listener, the Host header must name a loopback host
//     (or one of mcp.gateway.allowed_hosts): a rebound name is refused;
//   - an Origin header, when present, must be the gateway's own origin (its
//     Host) or one of mcp.gateway.allowed_origins.
func (g *Gateway) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r.Host) {
			g.refuse(w, "the Host header "+quote(r.Host)+" is not allowed (DNS rebinding protection; see mcp.gateway.allowed_hosts)")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !g.originAllowed(o, r.Host) {
			g.refuse(w, "the Origin "+quote(o)+" is not allowed (see mcp.gateway.allowed_origins)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) refuse(w http.ResponseWriter, msg string) {
	g.metric("origin_refused")
	writeJSON(w, http.StatusForbidden, jsonrpc.ErrorResponse(nil, jsonrpc.CodeInvalidRequest, msg, nil))
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return `"` + s + `"`
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}

func isLoopbackName(h string) bool {
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (g *Gateway) hostAllowed(host string) bool {
	h := hostname(host)
	if slices.ContainsFunc(g.o.Config.Gateway.AllowedHosts, func(a string) bool {
		return strings.EqualFold(a, host) || strings.EqualFold(a, h)
	}) {
		return true
	}
	if g.o.Loopback {
		return isLoopbackName(h)
	}
	return true
}

func (g *Gateway) originAllowed(origin, host string) bool {
	for _, a := range g.o.Config.Gateway.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	// A loopback page talking to a loopback gateway is local either way.
	return g.o.Loopback && isLoopbackName(hostname(u.Host)) && isLoopbackName(hostname(host))
}
