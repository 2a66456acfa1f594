package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/credential"
	"github.com/toolgate/toolgate/internal/credential/scrub"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/httpgw"
	"github.com/toolgate/toolgate/internal/mcp/pin"
	"github.com/toolgate/toolgate/internal/mcp/upstream"
	"github.com/toolgate/toolgate/internal/server"
	"github.com/toolgate/toolgate/internal/server/auth"
	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/version"
)

// openUpstream reaches one server: over Streamable HTTP for a url, else as a
// child process. Brokered secrets go into its request headers or its
// environment, and are masked in whatever the server sends back.
func openUpstream(rt *runtime, cfg *config.Config, sc config.ServerConfig, opts mcp.GatewayServer, log *slog.Logger) (upstream.Upstream, error) {
	secrets := rt.creds.Scrub()
	if sc.URL != "" {
		if err := rt.creds.CheckTransport(sc.Name, credential.Transport{CredentialMode: opts.Credential}); err != nil {
			return nil, err
		}
		return upstream.NewHTTP(upstream.HTTPOptions{
			Name: sc.Name, URL: sc.URL, Credential: opts.Credential,
			MaxMessageBytes: cfg.MCP.MaxResponseBytes, Log: log, Scrub: secrets,
			Secrets: rt.creds.HeaderSecrets(sc.Name),
		})
	}
	if err := rt.creds.CheckTransport(sc.Name, credential.Transport{Stdio: true}); err != nil {
		return nil, err
	}
	env, err := rt.creds.ProcessEnv(context.Background(), sc.Name, serverEnv())
	if err != nil {
		return nil, err
	}
	return upstream.NewStdio(upstream.StdioOptions{
		Name: sc.Name, Command: append([]string{sc.Command}, sc.Args...), Env: env,
		Shared: opts.Mode != mcp.ModeSession, MaxMessageBytes: cfg.MCP.MaxResponseBytes,
		ShutdownTimeout: cfg.MCP.ShutdownTimeout, Stderr: scrub.Writer(os.Stderr, secrets), Log: log, Scrub: secrets,
	})
}

// openGateway builds the MCP gateway of `toolgate serve` over the
// configured servers: a stdio server is a child process the gateway runs
// (shared, or one per session), a server with a url is reached over
// Streamable HTTP. Each server gets its own pinned tool registry and a
// pipeline whose describe stage checks the pins, as `toolgate run` does.
func openGateway(rt *runtime, cfg *config.Config, metrics *server.Metrics, log *slog.Logger) (*httpgw.Gateway, error) {
	var servers []httpgw.Server
	for _, sc := range cfg.Servers {
		if sc.Command == "" && sc.URL == "" {
			continue // described for policies only (AuthZEN), nothing to reach
		}
		opts := cfg.MCP.Gateway.Servers[sc.Name]
		slog := log.With("server", sc.Name)
		pins, err := rt.tasks.st.pins(sc.Name)
		if err != nil {
			return nil, err
		}
		tools := gate.NewTools(sc.Name, pins, cfg.MCP.Pinning, slog)
		followPins(rt.tasks.st, sc.Name, tools, slog)
		pipe, err := rt.pipeline(func(ec *enforce.Config) { ec.Catalog = tools.Catalog(ec.Catalog) })
		if err != nil {
			return nil, err
		}
		gt, err := gate.New(gate.Options{Tools: tools, Pipeline: pipe, Denial: cfg.MCP.Denial, Log: slog})
		if err != nil {
			return nil, err
		}
		up, err := openUpstream(rt, cfg, sc, opts, slog)
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", sc.Name, err)
		}
		servers = append(servers, httpgw.Server{Name: sc.Name, Upstream: up, Gate: gt})
	}
	if metrics != nil {
		byName := map[string]*gate.Tools{}
		for _, s := range servers {
			byName[s.Name] = s.Gate.Tools()
		}
		metrics.Known = func(server, tool string) (bool, bool) {
			t := byName[server]
			return t != nil, t != nil && t.Peek(tool) != nil
		}
	}
	var m httpgw.Metrics
	if metrics != nil {
		m = metrics
	}
	return httpgw.New(httpgw.Options{
		Servers: servers, Config: cfg.MCP, Metrics: m, Log: log, Version: version.Version,
		Elicitation: cfg.Approvals.Elicitation,
	})
}

// gatewayAuth authenticates the HTTP front doors' callers with the identity
// stage's verifier, when identity is configured.
func gatewayAuth(rt *runtime, cfg *config.Config) *auth.Authenticator {
	gw := cfg.MCP.Gateway
	return auth.New(auth.Options{
		Verifier: rt.tasks.ids, Resource: gw.Resource,
		AuthorizationServers: gw.AuthorizationServers, Scopes: gw.Scopes,
	})
}

func issuers(cfg *config.Config) []string {
	var out []string
	for _, is := range cfg.Identity.Issuers {
		out = append(out, is.Issuer)
	}
	return out
}

func serverNames(cfg *config.Config) []string {
	var out []string
	for _, s := range cfg.Servers {
		if s.Command != "" || s.URL != "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// followPins makes a definition that another replica of a shared store
// caught changing send this one to list the server's tools again before its
// next call, so it checks what its own connection to the server serves.
func followPins(st *state, server string, tools *gate.Tools, log *slog.Logger) {
	st.subscribe(postgres.ChannelDocs, func(name string) {
		if name == pin.DocName(server) || name == "" {
			tools.ListChanged()
			log.Debug("pins: the shared store's pins changed; listing the server's tools again before the next call", "server", server)
		}
	})
}
