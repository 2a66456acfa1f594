package identity_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/identity/idptest"
)

func code(err error) string {
	var c enforce.Coded
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	if err == nil {
		return "<nil>"
	}
	return "uncoded: " + err.Error()
}

// providers starts two trusted OPs with different claim layouts and a third
// that toolgate does not trust.
type providers struct {
	a, b, stranger *idptest.OP
	cfg            identity.Config
}

func startProviders(t *testing.T) *providers {
	p := &providers{
		a: idptest.Start(t,
			idptest.Client{ID: "researcher", Secret: "s1", Claims: map[string]any{"groups": []string{"research", "readers"}, "act_for": "alice", "team": "r&d"}},
			idptest.Client{ID: "elsewhere", Secret: "s2", Audience: []string{"billing-api"}},
		),
		b: idptest.Start(t,
			idptest.Client{ID: "summariser", Secret: "s3", Claims: map[string]any{"realm_access": map[string]any{"roles": []string{"writers"}}, "owner": "bob"}},
		),
		stranger: idptest.Start(t, idptest.Client{ID: "intruder", Secret: "s4"}),
	}
	p.cfg = identity.Config{Issuers: []identity.IssuerConfig{
		{Issuer: p.a.Issuer, Audience: []string{"toolgate"}, OwnerClaim: "act_for", IDPrefix: "a:"},
		{Issuer: p.b.Issuer, Audience: []string{"toolgate"}, GroupsClaim: "realm_access.roles", OwnerClaim: "owner", IDPrefix: "b:",
			Tags: map[string]string{"client": "client_id"}},
	}}
	return p
}

func newVerifier(t *testing.T, cfg identity.Config, now func() time.Time) *identity.Verifier {
	t.Helper()
	v, err := identity.New(cfg, identity.Options{Now: now, MinRefetch: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRealProvider drives the zitadel OP over HTTP: discovery, JWKS,
// client-credentials tokens, key rotation.
func TestRealProvider(t *testing.T) {
	p := startProviders(t)
	v := newVerifier(t, p.cfg, nil)
	ctx := context.Background()

	t.Run("two agents from two issuers, mapped", func(t *testing.T) {
		r, err := v.Verify(ctx, p.a.Token(t, "researcher"))
		if err != nil {
			t.Fatal(err)
		}
		want := call.Principal{Kind: call.KindAgent, ID: "a:researcher", Groups: []string{"research", "readers"}, Owner: "a:alice"}
		if r.Principal.Kind != want.Kind || r.Principal.ID != want.ID || !slices.Equal(r.Principal.Groups, want.Groups) || r.Principal.Owner != want.Owner {
			t.Fatalf("researcher: %+v", r.Principal)
		}
		// Every claim but the registered ones is a tag.
		if r.Principal.Claims["team"] != "r&d" || r.Principal.Claims["client_id"] != "researcher" {
			t.Fatalf("researcher tags: %v", r.Principal.Claims)
		}
		for _, reg := range []string{"iss", "sub", "aud", "exp", "iat", "jti"} {
			if _, ok := r.Principal.Claims[reg]; ok {
				t.Fatalf("registered claim %s became a tag", reg)
			}
		}
		if r.Issuer != p.a.Issuer || r.Expiry.Before(time.Now()) {
			t.Fatalf("issuer %s, expiry %s", r.Issuer, r.Expiry)
		}

		s, err := v.Verify(ctx, p.b.Token(t, "summariser"))
		if err != nil {
			t.Fatal(err)
		}
		if s.Principal.Kind != call.KindAgent || s.Principal.ID != "b:summariser" || !slices.Equal(s.Principal.Groups, []string{"writers"}) || s.Principal.Owner != "b:bob" {
			t.Fatalf("summariser: %+v", s.Principal)
		}
		// Configured tags: only those.
		if len(s.Principal.Claims) != 1 || s.Principal.Claims["client"] != "summariser" {
			t.Fatalf("summariser tags: %v", s.Principal.Claims)
		}
	})

	t.Run("unknown issuer", func(t *testing.T) {
		_, err := v.Verify(ctx, p.stranger.Token(t, "intruder"))
		if code(err) != identity.CodeUnknownIssuer || !strings.Contains(err.Error(), p.stranger.Issuer) {
			t.Fatalf("got %s: %v", code(err), err)
		}
	})

	t.Run("wrong audience", func(t *testing.T) {
		_, err := v.Verify(ctx, p.a.Token(t, "elsewhere"))
		if code(err) != identity.CodeAudience || !strings.Contains(err.Error(), "billing-api") {
			t.Fatalf("got %s: %v", code(err), err)
		}
	})

	t.Run("expired", func(t *testing.T) {
		tok := p.a.Token(t, "researcher") // the OP's tokens live 5 minutes
		later := newVerifier(t, p.cfg, func() time.Time { return time.Now().Add(10 * time.Minute) })
		_, err := later.Verify(ctx, tok)
		if code(err) != identity.CodeExpired {
			t.Fatalf("got %s: %v", code(err), err)
		}
		// Within the clock skew it is still accepted.
		skewed := newVerifier(t, p.cfg, func() time.Time { return time.Now().Add(5*time.Minute + 30*time.Second) })
		if _, err := skewed.Verify(ctx, tok); err != nil {
			t.Fatalf("within skew: %v", err)
		}
	})

	t.Run("alg none", func(t *testing.T) {
		parts := strings.Split(p.a.Token(t, "researcher"), ".")
		none := b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."
		_, err := v.Verify(ctx, none)
		if code(err) != identity.CodeAlgorithm || !strings.Contains(err.Error(), `"none"`) {
			t.Fatalf("got %s: %v", code(err), err)
		}
	})

	t.Run("HS256 with the public key", func(t *testing.T) {
		parts := strings.Split(p.a.Token(t, "researcher"), ".")
		h := b64(`{"alg":"HS256","typ":"JWT","kid":"` + p.a.KeyID() + `"}`)
		mac := hmac.New(sha256.New, p.a.PublicKeyPEM())
		mac.Write([]byte(h + "." + parts[1]))
		forged := h + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		_, err := v.Verify(ctx, forged)
		if code(err) != identity.CodeAlgorithm || !strings.Contains(err.Error(), "HS256") {
			t.Fatalf("got %s: %v", code(err), err)
		}
	})

	t.Run("tampered claims", func(t *testing.T) {
		parts := strings.Split(p.a.Token(t, "researcher"), ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		_ = json.Unmarshal(payload, &claims)
		claims["groups"] = []string{"admins"}
		b, _ := json.Marshal(claims)
		_, err := v.Verify(ctx, parts[0]+"."+base64.RawURLEncoding.EncodeToString(b)+"."+parts[2])
		if code(err) != identity.CodeSignature {
			t.Fatalf("got %s: %v", code(err), err)
		}
	})

	t.Run("key rotated out", func(t *testing.T) {
		old := p.a.Token(t, "researcher")
		if _, err := v.Verify(ctx, old); err != nil {
			t.Fatal(err)
		}
		p.a.RotateKey()
		// A token of the new key is accepted: its unknown kid fetches the
		// JWKS again.
		if _, err := v.Verify(ctx, p.a.Token(t, "researcher")); err != nil {
			t.Fatalf("token of the new key: %v", err)
		}
		// The old key is no longer published: its token is refused.
		_, err := v.Verify(ctx, old)
		if code(err) != identity.CodeUnknownKey || !strings.Contains(err.Error(), "rotated out") {
			t.Fatalf("got %s: %v", code(err), err)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestAPIKeysAndStage(t *testing.T) {
	key := "tgk_" + strings.Repeat("k", 40)
	cfg := identity.Config{APIKeys: []identity.APIKeyConfig{{Hash: identity.HashAPIKey(key), ID: "dev-agent", Groups: []string{"devs"}, Owner: "carol"}}}
	v := newVerifier(t, cfg, nil)
	ctx := context.Background()
	id, err := v.Verify(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if id.Principal.Kind != call.KindAgent || id.Principal.ID != "dev-agent" || id.Principal.Owner != "carol" {
		t.Fatalf("api key principal: %+v", id.Principal)
	}
	if _, err := v.Verify(ctx, "tgk_wrong"); code(err) != identity.CodeAPIKey {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := v.Verify(ctx, "not-a-jwt"); code(err) != identity.CodeMalformed {
		t.Fatalf("garbage: %v", err)
	}

	// The stage: a credential wins over what the front door stated.
	s := &identity.Stage{Verifier: v}
	c := &call.Call{IdentityToken: key, Principal: call.Principal{Kind: call.KindAgent, ID: "claimed"}}
	if err := s.Identify(ctx, c); err != nil || c.Principal.ID != "dev-agent" {
		t.Fatalf("token call: %v %+v", err, c.Principal)
	}
	// A bad credential denies even with a stated principal.
	c = &call.Call{IdentityToken: "tgk_bad", Principal: call.Principal{Kind: call.KindAgent, ID: "claimed"}}
	if err := s.Identify(ctx, c); code(err) != identity.CodeAPIKey {
		t.Fatalf("bad token with stated principal: %v", err)
	}
	// A stated principal stays.
	c = &call.Call{Principal: call.Principal{Kind: call.KindUser, ID: "dana"}}
	if err := s.Identify(ctx, c); err != nil || c.Principal.ID != "dana" {
		t.Fatalf("stated principal: %v", err)
	}
	// Nothing at all: denied without a default, the default with one.
	if err := s.Identify(ctx, &call.Call{}); code(err) != identity.CodeMissing {
		t.Fatalf("unauthenticated: %v", err)
	}
	s.Default = &call.Principal{Kind: call.KindAgent, ID: "local", Groups: []string{"g"}}
	c = &call.Call{}
	if err := s.Identify(ctx, c); err != nil || c.Principal.ID != "local" {
		t.Fatalf("default: %v %+v", err, c.Principal)
	}
	c.Principal.Groups[0] = "changed"
	if s.Default.Groups[0] != "g" {
		t.Fatal("the default principal is shared between calls")
	}
	// A toolgate task token is not an identity.
	task := b64(`{"alg":"EdDSA","typ":"toolgate-task+jwt","kid":"x"}`) + "." + b64(`{"iss":"toolgate"}`) + ".c2ln"
	if _, err := v.Verify(ctx, task); code(err) != identity.CodeWrongType {
		t.Fatalf("task token as identity: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	cfg := identity.Config{
		Issuers: []identity.IssuerConfig{
			{Issuer: "https://a", Algorithms: []string{"HS256", "none"}, Kind: "robot"},
			{Issuer: "https://a", Audience: []string{"x"}},
		},
		APIKeys: []identity.APIKeyConfig{{Hash: "md5:abc"}},
	}
	cfg.ApplyDefaults()
	errs := strings.Join(cfg.Validate(), "\n")
	for _, want := range []string{
		"issuers[0].audience: is required",
		`issuers[0].algorithms: "HS256" is not an asymmetric`,
		`issuers[0].algorithms: "none" is not an asymmetric`,
		`issuers[0].kind: "robot"`,
		`issuers[1].issuer: "https://a" is already issuers[0]`,
		"api_keys[0].hash: must be",
		"api_keys[0].id: is required",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("missing %q in:\n%s", want, errs)
		}
	}
}

// TestIssuerURLsAndPrefixes: issuers and JWKS URIs are https, or plain
// http to this machine only; with several issuers each has its own
// id_prefix, so "alice" of one provider is never "alice" of another.
func TestIssuerURLsAndPrefixes(t *testing.T) {
	valid := func(url string) identity.IssuerConfig {
		return identity.IssuerConfig{Issuer: url, Audience: []string{"toolgate"}}
	}
	for _, tc := range []struct {
		issuer, jwks string
		ok           bool
	}{
		{"https://idp.example.com/", "", true},
		{"HTTPS://idp.example.com/", "https://keys.example.com/jwks", true},
		{"http://127.0.0.1:8080/", "http://[::1]:8080/jwks", true},
		{"http://localhost/realms/a", "http://127.9.9.9/jwks", true},
		{"http://idp.example.com/", "", false},
		{"https://idp.example.com/", "http://keys.example.com/jwks", false},
		{"http://localhost.evil.example/", "", false},
		{"http://127.0.0.1.nip.io/", "", false},
		{"http://10.0.0.1/", "", false},
		{"ftp://idp.example.com/", "", false},
		{"idp.example.com", "", false},
		{"https://idp.example.com/", "file:///etc/jwks.json", false},
	} {
		is := valid(tc.issuer)
		is.JWKSURI = tc.jwks
		cfg := identity.Config{Issuers: []identity.IssuerConfig{is}}
		cfg.ApplyDefaults()
		errs := strings.Join(cfg.Validate(), "\n")
		if tc.ok != (errs == "") || (!tc.ok && !strings.Contains(errs, identity.CodeInsecureURL)) {
			t.Errorf("issuer %q, jwks_uri %q: %q", tc.issuer, tc.jwks, errs)
		}
	}

	two := identity.Config{Issuers: []identity.IssuerConfig{valid("https://a.example/"), valid("https://b.example/")}}
	two.ApplyDefaults()
	errs := strings.Join(two.Validate(), "\n")
	if !strings.Contains(errs, "issuers[0].id_prefix: is required") || !strings.Contains(errs, "issuers[1].id_prefix: is required") || !strings.Contains(errs, identity.CodeIDPrefixRequired) {
		t.Fatalf("two issuers without id_prefix: %q", errs)
	}
	two.Issuers[0].IDPrefix, two.Issuers[1].IDPrefix = "a:", "a:"
	if errs := strings.Join(two.Validate(), "\n"); !strings.Contains(errs, `issuers[1].id_prefix: "a:" is already the prefix of issuers[0]`) {
		t.Fatalf("two issuers with one id_prefix: %q", errs)
	}
	two.Issuers[1].IDPrefix = "b:"
	if errs := two.Validate(); len(errs) != 0 {
		t.Fatalf("two issuers with their own prefixes: %q", errs)
	}
	one := identity.Config{Issuers: []identity.IssuerConfig{valid("https://a.example/")}}
	one.ApplyDefaults()
	if errs := one.Validate(); len(errs) != 0 {
		t.Fatalf("one issuer without id_prefix: %q", errs)
	}
}

// The identify stage implements the pipeline's interface.
var _ enforce.Identifier = (*identity.Stage)(nil)

// TestRememberedTokens: a token verified once is not trusted past its
// expiry, and callers never share the principal they are given.
func TestRememberedTokens(t *testing.T) {
	p := startProviders(t)
	var offset time.Duration
	v := newVerifier(t, p.cfg, func() time.Time { return time.Now().Add(offset) })
	ctx := context.Background()
	tok := p.a.Token(t, "researcher")
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	first.Principal.Groups[0] = "admins"
	first.Principal.Claims["team"] = "changed"
	again, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if again.Principal.Groups[0] != "research" || again.Principal.Claims["team"] != "r&d" {
		t.Fatalf("a caller's change reached the next caller: %+v", again.Principal)
	}
	offset = time.Until(again.Expiry) + time.Hour // past exp and any leeway
	if _, err := v.Verify(ctx, tok); err == nil {
		t.Fatal("an expired token was accepted from memory")
	}
}
