// Package mcp holds what toolgate's MCP front doors share: the proxy's
// configuration (this file) and, in sub-packages, the JSON-RPC framing and
// validation (jsonrpc), tool pinning against rug pulls (pin), the enforcement
// of tools/call and tools/list (gate) and the stdio relay (stdio).
//
// This package is a leaf: internal/config embeds Config, so nothing here may
// import the configuration or the packages that do.
package mcp

import (
	"fmt"
	"strings"
	"time"
)

// Denial modes: how a denied tools/call is answered.
const (
	// DenialResult answers with a CallToolResult whose isError is true, so
	// the model reads the reason and can adapt (the default).
	DenialResult = "result"
	// DenialError answers with a JSON-RPC error, for clients that must tell a
	// denial from a tool's own failure.
	DenialError = "error"
)

// Pinning modes: what happens when a tool's definition differs from its pin.
const (
	// PinRefuse hides a changed tool and denies calls to it until the change
	// is accepted with `toolgate pin accept` (the default).
	PinRefuse = "refuse"
	// PinWarn logs the change and lets the tool through as it is now.
	PinWarn = "warn"
)

// Defaults.
const (
	DefaultMaxMessageBytes  = 4 << 20
	DefaultMaxResponseBytes = 64 << 20
	DefaultMaxDepth         = 64
	DefaultShutdownTimeout  = 5 * time.Second

	DefaultMaxSessions             = 1024
	DefaultMaxSessionsPerPrincipal = 64
)

// Config is the `mcp:` part of toolgate's configuration: how the MCP proxy
// treats the messages it relays.
type Config struct {
	// Denial is "result" (default) or "error".
	Denial string `yaml:"denial"`
	// Pinning is "refuse" (default) or "warn".
	Pinning string `yaml:"pinning"`
	// MaxMessageBytes bounds one message from the client (default 4 MiB).
	// A longer message is answered with a JSON-RPC error and dropped.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxResponseBytes bounds one message from the server (default 64 MiB):
	// results carry file contents, so they get a larger bound.
	MaxResponseBytes int `yaml:"max_response_bytes"`
	// MaxDepth bounds the nesting of objects and arrays in a message from
	// the client (default 64).
	MaxDepth int `yaml:"max_depth"`
	// ShutdownTimeout is how long the upstream gets to exit after its stdin
	// is closed, and again after SIGTERM, before it is killed (default 5s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Gateway configures the HTTP gateway of `toolgate serve`.
	Gateway GatewayConfig `yaml:"gateway"`
}

// GatewayConfig is `mcp.gateway`: the MCP endpoint of `toolgate serve`.
type GatewayConfig struct {
	// Separator joins server and name in the aggregated endpoint /mcp
	// (default "/": tools are "<server>/<tool>"). No server name may
	// contain it, so a namespaced name splits one way only.
	Separator string `yaml:"separator"`
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to call the gateway besides its own; "*" allows any.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHosts are Host header values accepted besides the listen
	// address: on a loopback listener only loopback names are accepted by
	// default (DNS rebinding protection).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Resource is the gateway's public base URL for the OAuth protected
	// resource metadata (RFC 9728); default: from each request.
	Resource string `yaml:"resource"`
	// AuthorizationServers are named in that metadata (default: the
	// identity issuers).
	AuthorizationServers []string `yaml:"authorization_servers"`
	// Scopes every bearer token must carry (403 insufficient_scope if not).
	Scopes []string `yaml:"scopes"`
	// SessionIdleTimeout ends a session nobody used for that long
	// (default 30m).
	SessionIdleTimeout time.Duration `yaml:"session_idle_timeout"`
	// RequestTimeout bounds one request to an upstream (default 5m).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxSessions bounds the open sessions (default 1024), and
	// MaxSessionsPerPrincipal those of one caller (default 64): each
	// session holds upstream sessions, and in mode "session" a process.
	// A new session beyond either is refused with 429 until one ends
	// (DELETE, idle timeout).
	MaxSessions             int `yaml:"max_sessions"`
	MaxSessionsPerPrincipal int `yaml:"max_sessions_per_principal"`
	// TLSCertFile and TLSKeyFile make `toolgate serve` listen with TLS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// Servers holds per-server gateway settings, by server name.
	Servers map[string]GatewayServer `yaml:"servers"`
}

// GatewayServer is how the gateway runs or reaches one configured server.
type GatewayServer struct {
	// Mode, for a stdio server: "shared" (one process for every session,
	// the default) or "session" (one process per client session).
	Mode string `yaml:"mode"`
	// Credential, for an HTTP server: how the per-call credential is sent,
	// "txn-token" (Txn-Token header, default) or "bearer" (Authorization).
	Credential string `yaml:"credential"`
}

// Gateway server modes.
const (
	ModeShared  = "shared"
	ModeSession = "session"
)

// ApplyDefaults fills in every unset field.
func (c *Config) ApplyDefaults() {
	if c.Denial == "" {
		c.Denial = DenialResult
	}
	if c.Pinning == "" {
		c.Pinning = PinRefuse
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	gw := &c.Gateway
	if gw.Separator == "" {
		gw.Separator = "/"
	}
	if gw.SessionIdleTimeout == 0 {
		gw.SessionIdleTimeout = 30 * time.Minute
	}
	if gw.RequestTimeout == 0 {
		gw.RequestTimeout = 5 * time.Minute
	}
	if gw.MaxSessions == 0 {
		gw.MaxSessions = DefaultMaxSessions
	}
	if gw.MaxSessionsPerPrincipal == 0 {
		gw.MaxSessionsPerPrincipal = DefaultMaxSessionsPerPrincipal
	}
	for name, s := range gw.Servers {
		if s.Mode == "" {
			s.Mode = ModeShared
		}
		if s.Credential == "" {
			s.Credential = "txn-token"
		}
		gw.Servers[name] = s
	}
}

// Validate returns one message per problem, each prefixed with its key
// (relative to `mcp`).
func (c *Config) Validate() []string {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, key+": "+fmt.Sprintf(format, args...))
	}
	switch c.Denial {
	case DenialResult, DenialError:
	default:
		bad("denial", "%q is not one of result, error", c.Denial)
	}
	switch c.Pinning {
	case PinRefuse, PinWarn:
	default:
		bad("pinning", "%q is not one of refuse, warn", c.Pinning)
	}
	// A message must at least hold an error response; 1 KiB is a floor
	// that catches a unit mistake (a size in MiB written as bytes).
	if c.MaxMessageBytes < 1024 {
		bad("max_message_bytes", "%d is less than the minimum of 1024", c.MaxMessageBytes)
	}
	if c.MaxResponseBytes < 1024 {
		bad("max_response_bytes", "%d is less than the minimum of 1024", c.MaxResponseBytes)
	}
	// Go's JSON decoder refuses nesting beyond 10000; stay well below.
	if c.MaxDepth < 8 || c.MaxDepth > 1000 {
		bad("max_depth", "%d is not between 8 and 1000", c.MaxDepth)
	}
	if c.ShutdownTimeout < 0 {
		bad("shutdown_timeout", "must not be negative")
	}
	gw := c.Gateway
	if gw.Separator == "" || len(gw.Separator) > 8 || strings.ContainsAny(gw.Separator, " \t\n\"") {
		bad("gateway.separator", "%q must be 1 to 8 characters without spaces or quotes", gw.Separator)
	}
	if gw.SessionIdleTimeout < 0 || gw.RequestTimeout < 0 {
		bad("gateway", "timeouts must not be negative")
	}
	if gw.MaxSessions < 0 || gw.MaxSessionsPerPrincipal < 0 {
		bad("gateway", "max_sessions and max_sessions_per_principal must not be negative")
	}
	if gw.MaxSessionsPerPrincipal > gw.MaxSessions {
		bad("gateway.max_sessions_per_principal", "%d is more than max_sessions (%d)", gw.MaxSessionsPerPrincipal, gw.MaxSessions)
	}
	if (gw.TLSCertFile == "") != (gw.TLSKeyFile == "") {
		bad("gateway", "tls_cert_file and tls_key_file go together")
	}
	for name, s := range gw.Servers {
		if s.Mode != ModeShared && s.Mode != ModeSession {
			bad("gateway.servers."+name+".mode", "%q is not one of shared, session", s.Mode)
		}
		if s.Credential != "txn-token" && s.Credential != "bearer" {
			bad("gateway.servers."+name+".credential", "%q is not one of txn-token, bearer", s.Credential)
		}
	}
	return errs
}
