package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/server"
)

func newServeCmd(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve [--config F] [--listen ADDR]",
		Short: "Run the HTTP gateway (AuthZEN decision API, health)",
		Long: `serve runs toolgate's HTTP gateway. Without a config it starts on
` + config.DefaultListen + ` with embedded defaults: the built-in policy set and an
audit trail (audit.jsonl) in the data directory.

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
	log := g.logger(cfg)
	dataDir, err := config.ResolveDataDir(g.dataDir, cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	engine, err := policy.NewEngine(cfg.Policy, log)
	if err != nil {
		return err
	}
	sink, err := audit.Open(cfg.Audit, dataDir)
	if err != nil {
		return err
	}
	defer sink.Close()
	tasks, err := openTaskParts(cfg, dataDir, log, false)
	if err != nil {
		return err
	}
	defer tasks.Close()
	pipe, err := newPipeline(cfg, engine, func(ec *enforce.Config) {
		ec.Audit = sink
		ec.Log = log
	}, tasks.stages(nil, true))
	if err != nil {
		return err
	}
	ready := map[string]server.Check{
		"policies": func() error {
			if engine.Current() == nil {
				return errors.New("no policies loaded")
			}
			return nil
		},
		"audit": func() error {
			if h, ok := sink.(interface{ Healthy() error }); ok {
				return h.Healthy()
			}
			return nil
		},
	}
	api := server.New(pipe, log, ready)
	tasks.serve(ctx, api, log) // /v1/tasks, /v1/token, /.well-known/jwks.json; key rotation
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
	if cfg.Policy.WatchEnabled() {
		go func() { _ = engine.Watch(ctx) }()
	}
	policies := "built-in"
	if len(cfg.Policy.Dirs) > 0 {
		policies = strings.Join(cfg.Policy.Dirs, ",")
	}
	log.Info("toolgate serving", "url", "http://"+ln.Addr().String(), "policies", policies,
		"policy_version", engine.Current().Version, "data_dir", dataDir)

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
