package credential_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/credential"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/txntoken"
)

var _ enforce.Minter = (*credential.Minter)(nil)

// clock is a settable clock shared by the key provider, the minter and the
// verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func boolp(b bool) *bool { return &b }

// agentCall is an allowed call of agent "researcher" acting for alice.
func agentCall(tool, args string) (*call.Call, *call.Decision) {
	c := &call.Call{
		ID:        "0198d2a0-0000-7000-8000-000000000001",
		Principal: call.Principal{Kind: call.KindAgent, ID: "researcher", Owner: "alice"},
		Chain:     []string{"researcher", "orchestrator"},
		Task:      &call.Task{ID: "tsk_1", Purpose: "triage"},
		Server:    call.Server{Name: "github"},
		Tool:      call.Tool{Name: tool},
		Input:     json.RawMessage(args),
	}
	return c, &call.Decision{ID: c.ID, Effect: call.Allow}
}

type fixture struct {
	clock *clock
	keys  *keys.File
	mint  *credential.Minter
	jwks  string // URL of the JWKS (keys.JWKSHandler, as `toolgate serve` serves it)
}

func newFixture(t *testing.T, cfg credential.Config, alg string) *fixture {
	t.Helper()
	clk := newClock()
	kp, err := keys.OpenFile(t.TempDir(), keys.Config{Algorithm: alg}, keys.FileOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := credential.New(cfg, credential.Options{
		Keys: kp, Issuer: "toolgate", URLs: map[string]string{"github": "https://tools.example.com/mcp"}, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(keys.JWKSHandler(kp))
	t.Cleanup(srv.Close)
	return &fixture{clock: clk, keys: kp, mint: m, jwks: srv.URL}
}

func (f *fixture) verifier(t *testing.T, leeway time.Duration) *txntoken.Verifier {
	t.Helper()
	v, err := txntoken.New(txntoken.Options{JWKSURL: f.jwks, Audience: "https://tools.example.com/mcp", Leeway: leeway, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func githubConfig() credential.Config {
	return credential.Config{Servers: map[string]credential.ServerConfig{"github": {}}}
}

func TestMintedTokenFormat(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, githubConfig(), alg)
			c, d := agentCall("create_issue", `{"title": "bug", "labels": ["a","b"]}`)
			cred, err := f.mint.Mint(context.Background(), c, d)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(cred.Token, ".")
			if len(parts) != 3 {
				t.Fatalf("not a compact JWS: %q", cred.Token)
			}
			jws, err := jose.ParseSignedCompact(cred.Token, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Protected
			if h.ExtraHeaders["typ"] != "txntoken+jwt" || h.Algorithm != alg || h.KeyID == "" {
				t.Fatalf("header: typ %v alg %s kid %q", h.ExtraHeaders["typ"], h.Algorithm, h.KeyID)
			}
			var claims map[string]any
			if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"iss": "toolgate", "aud": "https://tools.example.com/mcp", "txn": d.ID, "sub": "alice",
				"req_wl": "researcher", "scope": "github/create_issue", "jti": cred.ID,
			}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 60 {
				t.Errorf("exp - iat = %v, want the default 60 s", exp-iat)
			}
			digest, _ := txntoken.InputSHA256(json.RawMessage(`{"labels":["a","b"],"title":"bug"}`))
			tctx, _ := json.Marshal(claims["tctx"])
			wantCtx := `{"chain":["researcher","orchestrator"],"input_sha256":"` + digest + `","task":"tsk_1","tool":"create_issue"}`
			if string(tctx) != wantCtx {
				t.Errorf("tctx = %s\nwant %s", tctx, wantCtx)
			}
			if !cred.Expires.Equal(f.clock.Now().Add(60 * time.Second)) {
				t.Errorf("Expires = %s", cred.Expires)
			}
			// The credential never prints its token.
			if s := cred.String(); strings.Contains(s, cred.Token) || !strings.Contains(s, cred.ID) {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

func TestVerifyOncePerCall(t *testing.T) {
	f := newFixture(t, githubConfig(), "EdDSA")
	v := f.verifier(t, 0)
	ctx := context.Background()
	c, d := agentCall("create_issue", `{"title":"bug"}`)
	cred, err := f.mint.Mint(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}
	reason := func(err error) string {
		var e *txntoken.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not a *txntoken.Error", err)
		}
		return e.Reason
	}
	// Another tool and other arguments are refused without using the token up.
	if _, err := v.Verify(ctx, cred.Token, "delete_repo", json.RawMessage(`{"title":"bug"}`)); reason(err) != txntoken.ReasonTool {
		t.Fatalf("another tool: %v", err)
	}
	if _, err := v.Verify(ctx, cred.Token, "create_issue", json.RawMessage(`{"title":"bug!"}`)); reason(err) != txntoken.ReasonInput {
		t.Fatalf("other arguments: %v", err)
	}
	// The same arguments written differently are the same call (RFC 8785).
	cl, err := v.Verify(ctx, cred.Token, "create_issue", json.RawMessage(" { \"title\" : \"\\u0062ug\" } "))
	if err != nil {
		t.Fatalf("the call the token is for: %v", err)
	}
	if cl.Txn != d.ID || cl.Subject != "alice" || cl.RequestingWorkload != "researcher" {
		t.Errorf("claims: %+v", cl)
	}
	if _, err := v.Verify(ctx, cred.Token, "create_issue", json.RawMessage(`{"title":"bug"}`)); reason(err) != txntoken.ReasonReplayed {
		t.Fatalf("replay: %v", err)
	}
	// A token for another server is refused.
	other, _ := txntoken.New(txntoken.Options{JWKSURL: f.jwks, Audience: "https://other.example.com/mcp", Now: f.clock.Now})
	cred2, _ := f.mint.Mint(ctx, c, d)
	if _, err := other.Verify(ctx, cred2.Token, "create_issue", json.RawMessage(`{"title":"bug"}`)); reason(err) != txntoken.ReasonAudience {
		t.Fatalf("another audience: %v", err)
	}
	// Expired: the clock passes exp (no leeway beyond the default 5 s).
	f.clock.Add(66 * time.Second)
	if _, err := v.Verify(ctx, cred2.Token, "create_issue", json.RawMessage(`{"title":"bug"}`)); reason(err) != txntoken.ReasonExpired {
		t.Fatalf("expired: %v", err)
	}
}

func TestTTLPerServer(t *testing.T) {
	cfg := credential.Config{TTL: 30 * time.Second, Servers: map[string]credential.ServerConfig{"github": {TTL: time.Second}}}
	f := newFixture(t, cfg, "EdDSA")
	v := f.verifier(t, -1) // no leeway
	c, d := agentCall("create_issue", `{}`)
	cred, err := f.mint.Mint(context.Background(), c, d)
	if err != nil {
		t.Fatal(err)
	}
	if got := cred.Expires.Sub(f.clock.Now()); got != time.Second {
		t.Fatalf("lifetime %s, want 1s", got)
	}
	f.clock.Add(time.Second)
	if _, err := v.Verify(context.Background(), cred.Token, "create_issue", nil); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("a 1 s token one second later: %v", err)
	}
}

// TestRotation: tokens signed before a rotation verify until they expire,
// and the JWKS serves both keys meanwhile; the retired key leaves the JWKS
// once its tokens can no longer be valid.
func TestRotation(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, githubConfig(), alg)
			ctx := context.Background()
			v := f.verifier(t, -1)
			c, d := agentCall("create_issue", `{"n":1}`)
			before, err := f.mint.Mint(ctx, c, d)
			if err != nil {
				t.Fatal(err)
			}
			old, _ := f.keys.Active(ctx)
			// The verifier has fetched (and cached) the JWKS with the old key only.
			if _, err := v.Parse(ctx, before.Token); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(10 * time.Second)
			newKey, err := f.keys.Rotate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if newKey.ID == old.ID {
				t.Fatal("rotation kept the key")
			}
			set, err := keys.JWKS(ctx, f.keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Key(old.ID)) != 1 || len(set.Key(newKey.ID)) != 1 {
				t.Fatalf("the JWKS after rotation must hold both keys, has %d keys", len(set.Keys))
			}
			after, err := f.mint.Mint(ctx, c, d)
			if err != nil {
				t.Fatal(err)
			}
			if kid(t, after.Token) != newKey.ID || kid(t, before.Token) != old.ID {
				t.Fatal("tokens are not signed with the keys expected")
			}
			// The verifier meets the new kid, fetches the JWKS again, and
			// verifies both tokens.
			if _, err := v.Verify(ctx, after.Token, "create_issue", json.RawMessage(`{"n":1}`)); err != nil {
				t.Fatalf("token signed after rotation: %v", err)
			}
			if _, err := v.Verify(ctx, before.Token, "create_issue", json.RawMessage(`{"n":1}`)); err != nil {
				t.Fatalf("token signed before rotation, still unexpired: %v", err)
			}
			// A fresh verifier (a server that starts after the rotation)
			// also verifies a pre-rotation token from the JWKS.
			before2, _ := mintWithKey(t, f, old)
			if _, err := f.verifier(t, -1).Parse(ctx, before2); err != nil {
				t.Fatalf("fresh verifier, old key: %v", err)
			}
			// The old key's tokens expire on their own.
			f.clock.Add(61 * time.Second)
			if _, err := v.Parse(ctx, before2); err == nil || !strings.Contains(err.Error(), "expired") {
				t.Fatalf("old token past exp: %v", err)
			}
			// After keys.retain (25 h by default) the old key is unpublished.
			f.clock.Add(26 * time.Hour)
			set, _ = keys.JWKS(ctx, f.keys)
			if len(set.Key(old.ID)) != 0 || len(set.Key(newKey.ID)) != 1 {
				t.Fatalf("the JWKS after retention: %d keys", len(set.Keys))
			}
		})
	}
}

// mintWithKey mints a token signed with k, now retired, as a toolgate
// replica that has not reloaded the rotated keys yet does.
func mintWithKey(t *testing.T, f *fixture, k *keys.Key) (string, error) {
	t.Helper()
	m, err := credential.New(githubConfig(), credential.Options{
		Keys: staticActive{k, f.keys}, Issuer: "toolgate",
		URLs: map[string]string{"github": "https://tools.example.com/mcp"}, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, d := agentCall("create_issue", `{"n":1}`)
	cred, err := m.Mint(context.Background(), c, d)
	if err != nil {
		t.Fatal(err)
	}
	return cred.Token, nil
}

// staticActive signs with a retired key, as a replica that has not yet
// reloaded the rotated keys does.
type staticActive struct {
	k *keys.Key
	keys.Provider
}

func (s staticActive) Active(context.Context) (*keys.Key, error) { return s.k, nil }

func kid(t *testing.T, tok string) string {
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Protected.KeyID
}

func TestNoCredentialForUnlistedServer(t *testing.T) {
	f := newFixture(t, githubConfig(), "EdDSA")
	c, d := agentCall("x", `{}`)
	c.Server.Name = "fs"
	cred, err := f.mint.Mint(context.Background(), c, d)
	if err != nil || cred != nil {
		t.Fatalf("unlisted server: %v %v", cred, err)
	}
}

func TestMintRefusesInexactArguments(t *testing.T) {
	f := newFixture(t, githubConfig(), "EdDSA")
	// 2^53 + 1 has no double of its own: its canonical form would also be
	// that of 2^53, and one token would fit two calls.
	c, d := agentCall("transfer", `{"amount": 9007199254740993}`)
	_, err := f.mint.Mint(context.Background(), c, d)
	var coded call.Coded
	if !errors.As(err, &coded) || coded.ErrorCode() != credential.CodeArguments {
		t.Fatalf("inexact number: %v", err)
	}
}

// TestSecretFailuresFailTheMint: a secret that cannot be read fails the
// mint (the pipeline denies the call, credential.mint_failed); its value
// never appears in the error.
func TestSecretFailuresFailTheMint(t *testing.T) {
	dir := t.TempDir()
	cfg := credential.Config{Servers: map[string]credential.ServerConfig{"github": {Secrets: []credential.SecretConfig{
		{Header: "X-Api-Key", From: credential.SecretRef{File: dir + "/missing"}},
	}}}}
	f := newFixture(t, cfg, "EdDSA")
	c, d := agentCall("create_issue", `{}`)
	_, err := f.mint.Mint(context.Background(), c, d)
	var coded call.Coded
	if !errors.As(err, &coded) || coded.ErrorCode() != credential.CodeSecret || !strings.Contains(err.Error(), "X-Api-Key") {
		t.Fatalf("missing file: %v", err)
	}
	// Vault that cannot be reached: denied, not forwarded without the key.
	cfg.Servers["github"] = credential.ServerConfig{Secrets: []credential.SecretConfig{
		{Header: "X-Api-Key", From: credential.SecretRef{Vault: &credential.VaultRef{Path: "github", Field: "key"}}},
	}}
	cfg.Vault.Address = "http://127.0.0.1:1"
	kp, _ := keys.OpenFile(t.TempDir(), keys.Config{}, keys.FileOptions{})
	m, err := credential.New(cfg, credential.Options{Keys: kp, Env: func(n string) (string, bool) {
		return "hvs.token-0123456789", n == "VAULT_TOKEN"
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Mint(context.Background(), c, d); !errors.As(err, &coded) || coded.ErrorCode() != credential.CodeSecret {
		t.Fatalf("vault down: %v", err)
	}
	// A secret given in the environment that is not there stops the start.
	cfg.Servers["github"] = credential.ServerConfig{Secrets: []credential.SecretConfig{
		{Header: "X-Api-Key", From: credential.SecretRef{Env: "NOT_SET_ANYWHERE"}},
	}}
	if _, err := credential.New(cfg, credential.Options{Keys: kp, Env: func(string) (string, bool) { return "", false }}); err == nil {
		t.Fatal("a missing environment secret must stop the start")
	}
}

func TestConfigValidation(t *testing.T) {
	cfg := credential.Config{TTL: 500 * time.Millisecond, Servers: map[string]credential.ServerConfig{
		"a": {Secrets: []credential.SecretConfig{{Header: "Txn-Token", From: credential.SecretRef{Env: "X"}}}},
		"b": {Secrets: []credential.SecretConfig{{Header: "X-K", Env: "K", From: credential.SecretRef{Env: "X", File: "/f"}}}},
		"c": {TxnToken: boolp(false)},
		"d": {Exchange: &credential.ExchangeConfig{ClientID: "tg", ClientSecret: credential.SecretRef{Env: "S"}}},
	}}
	cfg.ApplyDefaults()
	got := strings.Join(cfg.Validate(), "\n")
	for _, want := range []string{
		"ttl: 500ms is not between 1s and 10m0s",
		`servers.a.secrets[0].header: "Txn-Token" is set by toolgate`,
		"servers.b.secrets[0]: name exactly one of header",
		"servers.b.secrets[0].from: name exactly one of file, env, vault",
		"servers.c: has nothing to carry",
		"servers.d.exchange: needs issuer (discovery) or token_endpoint",
		"servers.d.exchange.scopes: is required",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	cfg = credential.Config{Servers: map[string]credential.ServerConfig{
		"gh":  {Exchange: &credential.ExchangeConfig{Issuer: "https://idp", ClientID: "tg", ClientSecret: credential.SecretRef{Env: "S"}, Scopes: map[string][]string{"*": {"x"}}}},
		"fs":  {Secrets: []credential.SecretConfig{{Header: "X-K", From: credential.SecretRef{Env: "X"}}}},
		"api": {Secrets: []credential.SecretConfig{{Env: "K", From: credential.SecretRef{Env: "X"}}}},
	}}
	cfg.ApplyDefaults()
	got = strings.Join(cfg.ValidateServers(map[string]credential.Transport{
		"gh": {CredentialMode: "bearer"}, "fs": {Stdio: true}, "api": {},
	}), "\n")
	for _, want := range []string{"servers.gh.exchange: the per-call token takes Authorization", "servers.fs.secrets[0].header: the server is a stdio process", "servers.api.secrets[0].env: the server is remote"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
