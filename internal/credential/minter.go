package credential

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/credential/scrub"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/redirect"
	"github.com/toolgate/toolgate/txntoken"
)

// Error codes of the credential stage (the reason's code in a deny).
const (
	CodeArguments = "credential.arguments"
	CodeSign      = "credential.sign_failed"
	CodeSecret    = "credential.secret_unavailable"
	CodeExchange  = "credential.exchange_failed"
	// CodeIdentityTokenRequired: the call needs a token exchange, which
	// needs the caller's identity token from an identity provider, and it
	// presents none (an API key never leaves toolgate).
	CodeIdentityTokenRequired = "credential.identity_token_required"
)

// Options are what a Minter needs besides its configuration.
type Options struct {
	// Keys sign the tokens (toolgate's keys, internal/keys).
	Keys keys.Provider
	// Issuer is the tokens' "iss" (keys.issuer).
	Issuer string
	// URLs are the remote servers' URLs by name: a server's default
	// audience.
	URLs map[string]string
	// HTTPClient reaches the IdPs for token exchange (default: 10 s
	// timeout).
	HTTPClient *http.Client
	Log        *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
	// Env looks up toolgate's environment (tests; default os.LookupEnv).
	Env func(string) (string, bool)
}

// Minter is the credential stage (enforce.Minter).
type Minter struct {
	o       Options
	servers map[string]*server
	secrets *Secrets

	mu       sync.Mutex
	signers  map[string]jose.Signer // by key id: building one costs more than signing
	reloaded atomic.Int64           // when the keys were last re-read (unix ns)
}

// server is one configured server, settled.
type server struct {
	name     string
	cfg      ServerConfig
	audience string
	ttl      time.Duration
	exchange *exchanger
}

// New builds the credential stage. It fails if a secret given in toolgate's
// environment is missing: that is a mistake to report at start, not on the
// first call. Files and Vault are read when calls need them.
func New(cfg Config, o Options) (*Minter, error) {
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("credentials.%s", errs[0])
	}
	if o.Keys == nil {
		return nil, errors.New("credential: no signing keys")
	}
	if o.Issuer == "" {
		o.Issuer = keys.DefaultIssuer
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	// Token exchange sends a user's token and toolgate's client secret: a
	// redirect to another origin is not followed.
	o.HTTPClient = redirect.Client(o.HTTPClient, redirect.SameOrigin)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	m := &Minter{o: o, servers: map[string]*server{}, secrets: NewSecrets(cfg.Vault), signers: map[string]jose.Signer{}}
	m.secrets.env, m.secrets.now = o.Env, o.Now
	m.reloaded.Store(time.Now().UnixNano()) // the keys were just opened
	for name, sc := range cfg.Servers {
		s := &server{name: name, cfg: sc, audience: sc.Audience, ttl: sc.TTL}
		if s.audience == "" {
			s.audience = o.URLs[name]
		}
		if s.audience == "" {
			s.audience = "toolgate:server:" + name
		}
		if s.ttl == 0 {
			s.ttl = cfg.TTL
		}
		for i, sec := range sc.Secrets {
			if sec.From.Env != "" {
				if _, err := m.secrets.Resolve(context.Background(), sec.From); err != nil {
					return nil, fmt.Errorf("credentials.servers.%s.secrets[%d]: %v", name, i, err)
				}
			}
		}
		if e := sc.Exchange; e != nil {
			if e.ClientSecret.Env != "" {
				if _, err := m.secrets.Resolve(context.Background(), e.ClientSecret); err != nil {
					return nil, fmt.Errorf("credentials.servers.%s.exchange.client_secret: %v", name, err)
				}
			}
			s.exchange = newExchanger(e, s.audience, m)
		}
		m.servers[name] = s
	}
	return m, nil
}

// Configured tells whether calls to the server carry a credential.
func (m *Minter) Configured(server string) bool { return m.servers[server] != nil }

// Audience is the "aud" of the server's tokens ("" if it gets none).
func (m *Minter) Audience(server string) string {
	if s := m.servers[server]; s != nil {
		return s.audience
	}
	return ""
}

// Scrub is the set of every secret toolgate has read for an upstream; the
// transports mask them in what servers send back.
func (m *Minter) Scrub() *scrub.Set { return m.secrets.Scrub }

// CheckTransport reports settings of the server that cannot reach it over
// t (a header secret for a stdio server, say): the front door refuses to
// start rather than forward calls without the secrets they need.
func (m *Minter) CheckTransport(server string, t Transport) error {
	s := m.servers[server]
	if s == nil {
		return nil
	}
	if errs := s.cfg.checkTransport("credentials.servers."+server, t); len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// ProcessEnv returns the environment for a stdio server's process: env
// without the variables toolgate reads secrets from (so a secret given to
// toolgate is not also given to every server, and neither is Vault's
// token), plus the server's own secrets. Any secret that cannot be read
// fails it: the server is not started without them.
func (m *Minter) ProcessEnv(ctx context.Context, server string, env []string) ([]string, error) {
	drop := m.sourceEnv()
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return drop[name]
	})
	s := m.servers[server]
	if s == nil {
		return out, nil
	}
	for i, sec := range s.cfg.Secrets {
		if sec.Env == "" {
			continue
		}
		v, err := m.secrets.Resolve(ctx, sec.From)
		if err != nil {
			return nil, fmt.Errorf("credentials.servers.%s.secrets[%d] (%s): %v", server, i, sec.From, err)
		}
		out = slices.DeleteFunc(out, func(kv string) bool { return strings.HasPrefix(kv, sec.Env+"=") })
		out = append(out, sec.Env+"="+sec.Prefix+v)
	}
	return out, nil
}

// HeaderSecrets returns what gives a remote server's secret headers for
// every request to it (upstream.HTTPOptions.Secrets), or nil if it has
// none.
func (m *Minter) HeaderSecrets(server string) func(ctx context.Context) (map[string]string, error) {
	s := m.servers[server]
	if s == nil {
		return nil
	}
	has := false
	for _, sec := range s.cfg.Secrets {
		has = has || sec.Header != ""
	}
	if !has {
		return nil
	}
	return func(ctx context.Context) (map[string]string, error) {
		return m.headers(ctx, s)
	}
}

// headers resolves a server's secret headers.
func (m *Minter) headers(ctx context.Context, s *server) (map[string]string, error) {
	var out map[string]string
	for _, sec := range s.cfg.Secrets {
		if sec.Header == "" {
			continue // a stdio server's secrets are in its environment
		}
		v, err := m.secrets.Resolve(ctx, sec.From)
		if err != nil {
			return nil, call.Errorf(CodeSecret, "the secret for header %s of server %q (%s) cannot be read: %v", sec.Header, s.name, sec.From, err)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[sec.Header] = sec.Prefix + v
	}
	return out, nil
}

// sourceEnv names the environment variables secrets are read from.
func (m *Minter) sourceEnv() map[string]bool {
	drop := map[string]bool{}
	if m.secrets.cfg.Token.Env != "" && m.usesVault() {
		drop[m.secrets.cfg.Token.Env] = true
	}
	for _, s := range m.servers {
		for _, sec := range s.cfg.Secrets {
			if sec.From.Env != "" {
				drop[sec.From.Env] = true
			}
		}
		if e := s.cfg.Exchange; e != nil && e.ClientSecret.Env != "" {
			drop[e.ClientSecret.Env] = true
		}
	}
	return drop
}

func (m *Minter) usesVault() bool {
	for _, s := range m.servers {
		for _, sec := range s.cfg.Secrets {
			if sec.From.Vault != nil {
				return true
			}
		}
		if e := s.cfg.Exchange; e != nil && e.ClientSecret.Vault != nil {
			return true
		}
	}
	return false
}

// Mint implements enforce.Minter: the credential of an allowed call, or nil
// for a server that gets none. Any failure is an error, and the pipeline
// denies the call.
func (m *Minter) Mint(ctx context.Context, c *call.Call, d *call.Decision) (*call.Credential, error) {
	s := m.servers[c.Server.Name]
	if s == nil {
		return nil, nil
	}
	cred := &call.Credential{ID: newID()}
	if s.cfg.MintsToken() {
		tok, exp, err := m.token(ctx, s, c, d, cred.ID)
		if err != nil {
			return nil, err
		}
		cred.Token, cred.Expires = tok, exp
	}
	// Secret headers are read now, so a call whose secrets cannot be read
	// is denied (and recorded so) rather than failing on its way.
	h, err := m.headers(ctx, s)
	if err != nil {
		return nil, err
	}
	cred.Header = h
	if s.exchange != nil {
		at, err := s.exchange.token(ctx, c)
		var coded call.Coded
		switch {
		case errors.As(err, &coded):
			return nil, err
		case err != nil:
			return nil, call.Errorf(CodeExchange, "token exchange for server %q: %v", s.name, err)
		}
		cred.AccessToken = at
	}
	return cred, nil
}

// token mints and signs the per-call Transaction Token.
func (m *Minter) token(ctx context.Context, s *server, c *call.Call, d *call.Decision, jti string) (string, time.Time, error) {
	digest, err := txntoken.InputSHA256(c.Input)
	if err != nil {
		return "", time.Time{}, call.Errorf(CodeArguments, "the per-call token cannot bind the arguments: %v", err)
	}
	now := m.o.Now()
	exp := now.Add(s.ttl)
	claims := txntoken.Claims{
		Issuer:   m.o.Issuer,
		Audience: jwt.Audience{s.audience},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(exp),
		ID:       jti,
		Txn:      d.ID,
		Subject:  subject(c.Principal),
		Scope:    c.Action(),
		Context: txntoken.Context{
			Tool:        c.Tool.Name,
			InputSHA256: digest,
			Chain:       c.Chain,
		},
	}
	if c.Principal.Kind != call.KindUser {
		claims.RequestingWorkload = c.Principal.ID
	}
	if c.Task != nil {
		claims.Context.Task = c.Task.ID
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", time.Time{}, call.Errorf(CodeSign, "the per-call token cannot be encoded: %v", err)
	}
	tok, err := m.sign(ctx, txntoken.Type, payload)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, exp, nil
}

// sign signs payload with the active key as a compact JWS with header typ
// and kid.
func (m *Minter) sign(ctx context.Context, typ string, payload []byte) (string, error) {
	m.maybeReload(ctx)
	k, err := m.o.Keys.Active(ctx)
	if err != nil {
		return "", call.Errorf(CodeSign, "no signing key: %v", err)
	}
	signer, err := m.signer(k, typ)
	if err != nil {
		return "", call.Errorf(CodeSign, "cannot sign with key %s: %v", k.ID, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", call.Errorf(CodeSign, "cannot sign with key %s: %v", k.ID, err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", call.Errorf(CodeSign, "cannot encode the token: %v", err)
	}
	return tok, nil
}

// reloadEvery is how often the keys are read again from the data
// directory: another process there (serve) may have rotated them, and a
// long-running `toolgate run` must not sign with a key that is no longer
// published.
const reloadEvery = time.Minute

func (m *Minter) maybeReload(ctx context.Context) {
	r, ok := m.o.Keys.(keys.Reloader)
	if !ok {
		return
	}
	now := time.Now().UnixNano()
	last := m.reloaded.Load()
	if now-last < int64(reloadEvery) || !m.reloaded.CompareAndSwap(last, now) {
		return
	}
	if err := r.Reload(ctx); err != nil {
		m.o.Log.Warn("credential: cannot re-read the signing keys; signing with the ones read before", "error", err)
	}
}

// signer returns a cached signer for the key and type. Retired keys' signers
// are dropped as soon as another key signs.
func (m *Minter) signer(k *keys.Key, typ string) (jose.Signer, error) {
	if k.Signing == nil {
		return nil, errors.New("the key cannot sign")
	}
	id := k.ID + "\x00" + typ
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.signers[id]; ok {
		return s, nil
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), k.ID)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Algorithm, Key: k.Signing}, opts)
	if err != nil {
		return nil, err
	}
	for old := range m.signers {
		if !strings.HasPrefix(old, k.ID+"\x00") {
			delete(m.signers, old)
		}
	}
	m.signers[id] = s
	return s, nil
}

// subject is the token's "sub": the human the call is made for, else the
// caller itself.
func subject(p call.Principal) string {
	if p.Owner != "" {
		return p.Owner
	}
	return p.ID
}

// newID returns 128 random bits, base64url: a token id nobody can guess.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("credential: the random source failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
