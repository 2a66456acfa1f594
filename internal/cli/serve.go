package cli

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/server"
)

func newServeCmd(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve [--config F] [--listen ADDR]",
		Short: "Run the HTTP gateway (AuthZEN decision API, health)",
		Long: `serve runs toolgate's HTTP gateway. Without a config it starts on
` + config.DefaultListen + ` with embedded defaults: the built-in policy set and an
audit trail (toolgate.db, hash-chained and signed) in the data directory.

Endpoints: POST /access/v1/evaluation, POST /access/v1/evaluations,
GET /.well-known/authzen-configuration, GET /healthz, GET /readyz.

Policies are reloaded when their files change; an invalid change is logged
and the previous policies stay in force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
				if err := cfg.Validate(); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, g, cfg)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default "+config.DefaultListen+")")
	return cmd
}

func serve(ctx context.Context, g *globals, cfg *config.Config) error {
	rt, err := openRuntime(g, cfg)
	if err != nil {
		return err
	}
	defer rt.Close()
	log := rt.log
	pipe, err := rt.pipeline()
	if err != nil {
		return err
	}
	api := server.New(pipe, log, map[string]server.Check{
		"policies": rt.policiesReady,
		"audit":    rt.auditReady,
	})
	rt.tasks.serve(ctx, api, log) // /v1/tasks, /v1/token, /.well-known/jwks.json; key rotation
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	rt.watch(ctx)
	policies := "built-in"
	if len(cfg.Policy.Dirs) > 0 {
		policies = strings.Join(cfg.Policy.Dirs, ",")
	}
	log.Info("toolgate serving", "url", "http://"+ln.Addr().String(), "policies", policies,
		"policy_version", rt.engine.Version(), "data_dir", rt.dataDir)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
