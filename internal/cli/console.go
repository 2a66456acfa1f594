package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/console"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// openConsole builds the web console over the runtime's parts. base is
// serve's own origin; loopback says serve listens on loopback only. The
// returned close function closes what the console opened itself.
func openConsole(rt *runtime, cfg *config.Config, pipe *enforce.Pipeline, base string, loopback bool, log *slog.Logger) (*console.Console, func() error, error) {
	cc := cfg.Console
	publicURL := cc.PublicURL
	if publicURL == "" {
		publicURL = base
	}
	secure := strings.HasPrefix(publicURL, "https://") || !loopback
	o := console.Options{
		Approvals: rt.approvals, Tasks: rt.tasks.svc, Policies: rt.engine, Identity: rt.tasks.ids,
		DryRun: pipe.DryRun, Pins: rt.tasks.st.pins, BaseURL: publicURL, Secure: secure,
		Limits: cfg.InputLimits(), Log: log,
	}
	for _, s := range cfg.Servers {
		tr := s.URL
		if s.Command != "" {
			tr = "stdio: " + s.Command
		}
		o.Servers = append(o.Servers, console.Server{Name: s.Name, Trust: s.Trust, Labels: s.Labels, Transport: tr})
	}
	if cc.AdminKeyOn() {
		key, path, err := console.LoadOrCreateAdminKey(rt.dataDir)
		if err != nil {
			return nil, nil, err
		}
		o.AdminKey = key
		log.Info("console: the local admin key signs in as the local operator", "key_file", path)
	}
	if cc.OIDC != nil && cc.OIDC.ClientSecretFile != "" {
		b, err := os.ReadFile(cc.OIDC.ClientSecretFile)
		if err != nil {
			return nil, nil, fmt.Errorf("console.oidc.client_secret_file: %w", err)
		}
		o.OIDCSecret = strings.TrimSpace(string(b))
	}
	closeTrail := func() error { return nil }
	switch {
	case rt.tasks.st.shared() && (cfg.Audit.Sink == "" || cfg.Audit.Sink == "sqlite"):
		o.Trail = rt.tasks.db
		o.TrailKeys = func(ctx context.Context) ([]ed25519.PublicKey, error) {
			k, err := audit.SharedPublicKeys(ctx, rt.tasks.st.db)
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			return k, err
		}
	case cfg.Audit.Sink == "" || cfg.Audit.Sink == "sqlite":
		path, err := audit.DBPath(cfg.Audit, rt.dataDir)
		if err != nil {
			return nil, nil, err
		}
		if filepath.Clean(path) == filepath.Join(rt.dataDir, sqlite.FileName) {
			o.Trail = rt.tasks.db
		} else {
			d, err := sqlite.Open(path, sqlite.Options{ReadOnly: true})
			if err != nil {
				return nil, nil, fmt.Errorf("console: the audit trail: %w", err)
			}
			o.Trail, closeTrail = d, d.Close
		}
		o.TrailKeys = func(context.Context) ([]ed25519.PublicKey, error) {
			k, err := audit.LoadPublicKeys(filepath.Join(rt.dataDir, audit.PublicKeysFile))
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return k, err
		}
	}
	c, err := console.New(cc, o)
	if err != nil {
		_ = closeTrail()
		return nil, nil, err
	}
	return c, closeTrail, nil
}
