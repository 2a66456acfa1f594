package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/console"
	"github.com/toolgate/toolgate/internal/frontdoor"
	"github.com/toolgate/toolgate/internal/mcp/httpgw"
	"github.com/toolgate/toolgate/internal/server"
	"github.com/toolgate/toolgate/internal/server/auth"
	"github.com/toolgate/toolgate/internal/store/postgres"
)

func newServeCmd(g *globals) *cobra.Command {
	var listen, debugListen string
	cmd := &cobra.Command{
		Use:   "serve [--config F] [--listen ADDR]",
		Short: "Run the HTTP gateway: MCP for many servers and agents, the AuthZEN decision API, admin APIs",
		Long: `serve runs toolgate's HTTP gateway. Without a config it starts on
` + config.DefaultListen + ` with embedded defaults: the built-in policy set and an
audit trail (toolgate.db, hash-chained and signed) in the data directory.

Endpoints (docs/gateway.md):
  MCP           /mcp (every configured server, names "<server>/<name>"),
                /mcp/{server} (one server unchanged), Streamable HTTP;
                GET /sse, GET /sse/{server}, POST /message (legacy HTTP+SSE);
                GET /.well-known/oauth-protected-resource
  AuthZEN       POST /access/v1/evaluation, POST /access/v1/evaluations,
                GET /.well-known/authzen-configuration
  tasks         POST /v1/tasks, GET /v1/tasks, GET /v1/tasks/{id},
                DELETE /v1/tasks/{id}, DELETE /v1/agents/{id}/tasks,
                POST /v1/token (RFC 8693 token exchange: delegation)
  approvals     GET /v1/approvals, GET /v1/approvals/{id},
                POST /v1/approvals/{id}/approve, POST /v1/approvals/{id}/deny,
                GET and POST /v1/approval-links/{token} (links in webhooks)
  keys          GET /.well-known/jwks.json (task tokens, per-call tokens)
  operations    GET /metrics, GET /healthz, GET /readyz
  console       /console (docs/console.md; off with console.enabled: false)
With identity configured, callers present a bearer token (identity token or
API key); the task and approval APIs always need one.

Policies are reloaded when their files change; an invalid change is logged
and the previous policies stay in force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if listen != "" {
				if _, _, err := net.SplitHostPort(listen); err != nil {
					return usageError{fmt.Errorf("--listen %q is not host:port", listen)}
				}
				cfg.Listen = listen
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if debugListen != "" {
				if err := serveDebug(ctx, debugListen); err != nil {
					return err
				}
			}
			return serve(ctx, g, cfg)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default "+config.DefaultListen+")")
	cmd.Flags().StringVar(&debugListen, "debug-listen", "", "serve Go's profiling endpoints (/debug/pprof/) on this separate address; keep it on loopback")
	return cmd
}

// serveDebug serves net/http/pprof on its own listener, never on the
// gateway's, so profiling cannot be reached through the public address.
func serveDebug(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--debug-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// Behind a door of its own: on loopback, a web page whose name was
	// rebound to 127.0.0.1 must not read profiles and command lines.
	loopback := false
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		loopback = tcp.IP.IsLoopback()
	}
	door := frontdoor.New(frontdoor.Config{}, loopback, nil)
	srv := door.Server(door.Wrap(mux))
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return nil
}

func serve(ctx context.Context, g *globals, cfg *config.Config) (err error) {
	rt, err := openRuntime(g, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rt.Close()) }()
	log := rt.log
	pipe, err := rt.pipeline()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	// The MCP gateway (/mcp, /mcp/{server}, legacy /sse), bearer-token
	// authentication of MCP and AuthZEN callers, and /metrics.
	metrics := server.NewMetrics()
	if mode, err := cfg.Audit.DurabilityMode(); err == nil { // validated with the configuration
		metrics.AuditDurability(mode)
	}
	gw, err := openGateway(rt, cfg, metrics, log)
	if err != nil {
		ln.Close()
		return err
	}
	authn := gatewayAuth(rt, cfg)
	ready := map[string]server.Check{
		"policies":  rt.policiesReady,
		"audit":     rt.auditReady,
		"upstreams": gw.Ready,
	}
	if rt.tasks.st.shared() {
		ready["store"] = rt.tasks.st.ready
		if w := postgres.TLSWarning(rt.tasks.st.pg.URL()); w != "" {
			log.Warn("store: " + w)
		}
	}
	api := server.New(pipe, log, ready)
	api.Measure(metrics)
	// Every route is behind one front door: Host and Origin policy (DNS
	// rebinding, cross-site requests), content types, body limits and
	// read deadlines.
	loopback := false
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		loopback = tcp.IP.IsLoopback()
	}
	door := frontdoor.New(cfg.HTTP, loopback, metrics.Error)
	api.Door(door)
	if !loopback && len(cfg.HTTP.AllowedHosts) == 0 {
		log.Warn("serve listens on an address that is not loopback and http.allowed_hosts is empty: any Host is accepted, "+
			"so nothing but authentication protects against DNS rebinding; list the names clients use in http.allowed_hosts",
			"listen", ln.Addr().String())
	}
	warnServe(log, cfg, loopback, authn.Enabled())
	if authn.Enabled() {
		api.Authenticate(authn.Wrap)
	}
	mcpHandler := gw.Handler(authn.Wrap)
	for _, pattern := range httpgw.Routes {
		api.Handle(pattern, mcpHandler)
	}
	api.Handle("GET "+auth.MetadataPath, authn.Metadata(issuers(cfg)))
	api.Handle("GET "+auth.MetadataPath+"/{path...}", authn.Metadata(issuers(cfg)))
	rt.tasks.serve(ctx, api, log)                   // /v1/tasks, /v1/token, /.well-known/jwks.json; key rotation
	for pattern, h := range rt.approvals.Routes() { // /v1/approvals, /v1/approval-links/
		api.Handle(pattern, h)
	}
	// The web console (/console), a plug-in of serve.
	var con *console.Console
	if cfg.Console.On() {
		scheme := "http"
		if cfg.MCP.Gateway.TLSCertFile != "" {
			scheme = "https"
		}
		c, closeConsole, err := openConsole(rt, cfg, pipe, scheme+"://"+ln.Addr().String(), loopback, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer closeConsole()
		con = c
		for pattern, h := range con.Routes() {
			api.Handle(pattern, h)
		}
	}
	// No ReadTimeout or WriteTimeout on the connection: MCP event streams
	// and calls that wait for a human's approval are long. The door bounds
	// headers and bodies (http.read_header_timeout, http.body_timeout,
	// http.max_body_bytes); calls are bounded by mcp.gateway.request_timeout.
	srv := door.Server(api.Handler())
	srv.RegisterOnShutdown(gw.CloseStreams)
	if con != nil {
		srv.RegisterOnShutdown(con.CloseStreams)
	}
	if err := rt.watch(ctx, func(error) { metrics.Error("policy_watch") }); err != nil {
		return err
	}
	policies := "built-in"
	if len(cfg.Policy.Dirs) > 0 {
		policies = strings.Join(cfg.Policy.Dirs, ",")
	}
	scheme := "http"
	if cfg.MCP.Gateway.TLSCertFile != "" {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	rt.approvals.SetPublicURL(base) // where webhook links point, unless approvals.public_url says
	rt.approvals.Lifetime(ctx)      // a stop keeps pending approvals
	rt.follow(ctx)                  // what other replicas of a shared store change
	log.Info("toolgate serving", "url", base, "mcp", base+"/mcp", "servers", serverNames(cfg),
		"authzen", base+"/access/v1/evaluation", "authentication", authn.Enabled(),
		"policies", policies, "policy_version", rt.engine.Version(), "data_dir", rt.dataDir, "config", g.found.String())

	errc := make(chan error, 1)
	go func() {
		if scheme == "https" {
			errc <- srv.ServeTLS(ln, cfg.MCP.Gateway.TLSCertFile, cfg.MCP.Gateway.TLSKeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		gw.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	// Drain: no new requests; calls in flight finish (within the timeout)
	// before the upstreams are stopped.
	log.Info("shutting down; draining calls in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if gerr := gw.Shutdown(sctx); gerr != nil {
		log.Warn("shutdown", "error", gerr)
	}
	return err
}
