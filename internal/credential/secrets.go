package credential

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/toolgate/toolgate/internal/credential/scrub"
)

// Secrets reads the secrets the configuration refers to, caches them, and
// adds every value it reads to a scrub set, so that what upstream servers
// send back can be cleaned of them.
type Secrets struct {
	cfg   VaultConfig
	env   func(string) (string, bool)
	now   func() time.Time
	Scrub *scrub.Set

	mu    sync.Mutex
	vault *vault.Client
	cache map[string]cached
}

type cached struct {
	value string
	until time.Time
}

// NewSecrets reads secrets with the Vault settings of cfg. Environment
// references are read from toolgate's environment.
func NewSecrets(cfg VaultConfig) *Secrets {
	return &Secrets{cfg: cfg, env: os.LookupEnv, now: time.Now, Scrub: &scrub.Set{}, cache: map[string]cached{}}
}

// Resolve returns the secret ref names. Files and Vault secrets are cached
// for the Vault cache interval; environment variables are read every time
// (that is cheap, and they do not change).
func (s *Secrets) Resolve(ctx context.Context, ref SecretRef) (string, error) {
	var v string
	var err error
	switch {
	case ref.Env != "":
		val, ok := s.env(ref.Env)
		if !ok || strings.TrimSpace(val) == "" {
			return "", fmt.Errorf("the environment variable %s is not set", ref.Env)
		}
		v = strings.TrimSpace(val)
	case ref.File != "", ref.Vault != nil:
		v, err = s.cachedRead(ctx, ref)
		if err != nil {
			return "", err
		}
	default:
		return "", errors.New("the secret reference names no source")
	}
	if len(v) < scrub.MinLen {
		// Too short to be a real secret, and too short to be found again in
		// what the server sends back; refuse rather than broker it.
		return "", fmt.Errorf("the secret from %s is shorter than %d characters", ref, scrub.MinLen)
	}
	s.Scrub.Add(v)
	return v, nil
}

func (s *Secrets) cachedRead(ctx context.Context, ref SecretRef) (string, error) {
	key := ref.String()
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.value, nil
	}
	var v string
	var err error
	if ref.Vault != nil {
		v, err = s.readVault(ctx, ref.Vault)
	} else {
		v, err = readSecretFile(ref.File)
	}
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.cache[key] = cached{value: v, until: now.Add(s.cfg.Cache)}
	s.mu.Unlock()
	return v, nil
}

// readSecretFile reads a secret file, refusing one that others may read.
func readSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("the secret file cannot be read: %w", err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("the secret file %s can be read by every user (mode %04o); run chmod o-rwx on it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("the secret file cannot be read: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readVault reads a field of a KV v2 secret.
func (s *Secrets) readVault(ctx context.Context, ref *VaultRef) (string, error) {
	c, err := s.vaultClient(ctx)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sec, err := c.KVv2(ref.Mount).Get(ctx, ref.Path)
	if err != nil {
		return "", fmt.Errorf("vault: %s/%s: %w", ref.Mount, ref.Path, err)
	}
	raw, ok := sec.Data[ref.Field]
	if !ok {
		return "", fmt.Errorf("vault: %s/%s has no field %q", ref.Mount, ref.Path, ref.Field)
	}
	v, ok := raw.(string)
	if !ok {
		return "", fmt.Errorf("vault: %s/%s field %q is not a string", ref.Mount, ref.Path, ref.Field)
	}
	return strings.TrimSpace(v), nil
}

// vaultClient connects to Vault once, at first use: toolgate starts without
// Vault, and calls that need it are denied until it answers.
func (s *Secrets) vaultClient(ctx context.Context) (*vault.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vault != nil {
		return s.vault, nil
	}
	cfg := vault.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault: %w", cfg.Error)
	}
	if s.cfg.Address != "" {
		cfg.Address = s.cfg.Address
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if s.cfg.Token.Vault != nil {
		return nil, errors.New("vault: the token cannot itself come from Vault")
	}
	// The token is read without the lock's Resolve path (no cache, no
	// scrub): it never goes to an upstream.
	var token string
	if s.cfg.Token.Env != "" {
		token, _ = s.env(s.cfg.Token.Env)
	} else if token, err = readSecretFile(s.cfg.Token.File); err != nil {
		return nil, fmt.Errorf("vault token: %w", err)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errors.New("vault: no token (credentials.vault.token)")
	}
	c.SetToken(token)
	if s.cfg.Namespace != "" {
		c.SetNamespace(s.cfg.Namespace)
	}
	s.vault = c
	return c, nil
}

// String names a reference without its value, for messages.
func (r SecretRef) String() string {
	switch {
	case r.File != "":
		return "file " + r.File
	case r.Env != "":
		return "environment variable " + r.Env
	case r.Vault != nil:
		return "vault " + r.Vault.Mount + "/" + r.Vault.Path + "#" + r.Vault.Field
	}
	return "nothing"
}
