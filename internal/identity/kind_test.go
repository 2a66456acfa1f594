package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"maps"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/call"
)

// TestKindAuto: with kind auto, a token is a User only when it shows a
// person; service accounts are Agents whatever their subject. The claim
// sets are the shapes Entra ID, Okta and Keycloak issue (client
// credentials and signed-in users), with their usual claims; each token is
// signed (RS256, as these providers do) and verified end to end.
func TestKindAuto(t *testing.T) {
	const (
		entra    = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
		entraV1  = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"
		okta     = "https://dev-123456.okta.com/oauth2/default"
		keycloak = "https://kc.example.com/realms/agents"
		tid      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	)
	tests := []struct {
		name   string
		claims map[string]any
		want   call.PrincipalKind
	}{
		{"Entra ID v2 client credentials (sub is the service principal, not the client id)", map[string]any{
			"iss": entra, "aio": "k2BgYDD8n6WK3lH0b5y7zPXzRWQ7AA==", "azp": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "azpacr": "1",
			"oid": "a9d5e3f1-0b7c-4d52-9c3e-1f2a3b4c5d6e", "rh": "0.AXEAv4j5cvGGr0GRqy180BHbR8q2-ZLiGcNHvROV8ye1DKJxAAA.",
			"roles": []any{"Tools.Invoke"}, "sub": "a9d5e3f1-0b7c-4d52-9c3e-1f2a3b4c5d6e", "tid": tid, "uti": "QRhTKY1yPUSdZ8nA1ykLAA", "ver": "2.0",
		}, call.KindAgent},
		{"Entra ID v2 client credentials with idtyp", map[string]any{
			"iss": entra, "azp": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "azpacr": "1", "idtyp": "app",
			"oid": "a9d5e3f1-0b7c-4d52-9c3e-1f2a3b4c5d6e", "roles": []any{"Tools.Invoke"}, "sub": "a9d5e3f1-0b7c-4d52-9c3e-1f2a3b4c5d6e", "tid": tid, "ver": "2.0",
		}, call.KindAgent},
		{"Entra ID v1 client credentials", map[string]any{
			"iss": entraV1, "appid": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "appidacr": "1", "idp": entraV1,
			"oid": "a9d5e3f1-0b7c-4d52-9c3e-1f2a3b4c5d6e", "roles": []any{"Tools.Invoke"}, "sub": "a9d5e3f1-0b7c-4d52-9c3e-1f2a3b4c5d6e", "tid": tid, "ver": "1.0",
		}, call.KindAgent},
		{"Entra ID v2 signed-in user (delegated scp)", map[string]any{
			"iss": entra, "aio": "AWQAm/8ZAAAA", "azp": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "azpacr": "0", "name": "Alice Example",
			"oid": "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b", "preferred_username": "alice@contoso.com", "rh": "0.AXEA",
			"scp": "Tools.Invoke", "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "tid": tid, "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0",
		}, call.KindUser},
		{"Entra ID v1 signed-in user", map[string]any{
			"iss": entraV1, "amr": []any{"pwd", "mfa"}, "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "appidacr": "0",
			"family_name": "Example", "given_name": "Alice", "name": "Alice Example", "oid": "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b",
			"scp": "user_impersonation", "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA", "tid": tid,
			"unique_name": "alice@contoso.com", "upn": "alice@contoso.com", "ver": "1.0",
		}, call.KindUser},
		{"Entra ID user with idtyp", map[string]any{
			"iss": entra, "azp": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "idtyp": "user", "oid": "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b",
			"sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "tid": tid, "ver": "2.0",
		}, call.KindUser},
		{"Okta client credentials", map[string]any{
			"ver": 1, "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE", "iss": okta, "cid": "0oa1b2c3d4EXAMPLE5d7",
			"scp": []any{"tools:invoke"}, "sub": "0oa1b2c3d4EXAMPLE5d7",
		}, call.KindAgent},
		{"Okta client credentials with a custom subject", map[string]any{
			"ver": 1, "jti": "AT.1nQ5KLBAY2jBDJU5wcFEG8MqwEWkzyqQNg1E8vY40SF", "iss": okta, "cid": "0oa1b2c3d4EXAMPLE5d7",
			"scp": []any{"tools:invoke"}, "sub": "research-agent",
		}, call.KindAgent},
		{"Okta signed-in user", map[string]any{
			"ver": 1, "jti": "AT.2oR6LMCBZ3kCEKV6xdGFH9NrxFXl0zrRNh2F9wZ51TG", "iss": okta, "cid": "0oa9z8y7x6EXAMPLE4w3",
			"uid": "00u1a2b3c4EXAMPLE5d6", "scp": []any{"openid", "tools:invoke"}, "auth_time": 1767225000, "sub": "alice@example.com",
		}, call.KindUser},
		{"Keycloak service account", map[string]any{
			"iss": keycloak, "jti": "onrtcc:7b9c2a4e-1d3f-4e5a-8b6c-9d0e1f2a3b4c", "sub": "9b1f0c3e-5a7d-4e2b-8c6f-1a3b5c7d9e0f", "typ": "Bearer",
			"azp": "research-agent", "acr": "1", "allowed-origins": []any{"/*"},
			"realm_access":    map[string]any{"roles": []any{"default-roles-agents", "offline_access", "uma_authorization"}},
			"resource_access": map[string]any{"account": map[string]any{"roles": []any{"manage-account", "view-profile"}}},
			"scope":           "profile email", "email_verified": false, "clientHost": "10.0.0.7",
			"preferred_username": "service-account-research-agent", "clientAddress": "10.0.0.7", "client_id": "research-agent",
		}, call.KindAgent},
		{"Keycloak signed-in user", map[string]any{
			"iss": keycloak, "auth_time": 1767225000, "jti": "onrtac:0d2f8e6a-3b1c-4a5d-9e7f-2b4c6d8e0f1a", "sub": "f3a7c1e9-2b4d-4f6a-8c0e-3d5f7a9b1c2e",
			"typ": "Bearer", "azp": "toolgate-console", "sid": "0d2f8e6a-3b1c-4a5d-9e7f-2b4c6d8e0f1a", "acr": "1",
			"realm_access": map[string]any{"roles": []any{"default-roles-agents"}}, "scope": "openid profile email", "email_verified": true,
			"name": "Alice Example", "preferred_username": "alice", "given_name": "Alice", "family_name": "Example", "email": "alice@example.com",
		}, call.KindUser},
		{"Keycloak signed-in user, older session_state", map[string]any{
			"iss": keycloak, "jti": "5c1d7e2a-9b3f-4a6c-8d0e-1f2a3b4c5d6e", "sub": "f3a7c1e9-2b4d-4f6a-8c0e-3d5f7a9b1c2e", "typ": "Bearer",
			"azp": "toolgate-console", "session_state": "8e0f1a2b-3c4d-4e5f-a6b7-c8d9e0f1a2b3", "acr": "1", "preferred_username": "alice",
		}, call.KindUser},
		{"a delegation token: the caller is the actor, an agent", map[string]any{
			"iss": keycloak, "sub": "f3a7c1e9-2b4d-4f6a-8c0e-3d5f7a9b1c2e", "sid": "0d2f8e6a", "azp": "toolgate-console",
			"act": map[string]any{"sub": "research-agent"},
		}, call.KindAgent},
	}

	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	var issuers []IssuerConfig
	for i, iss := range []string{entra, entraV1, okta, keycloak} {
		issuers = append(issuers, IssuerConfig{Issuer: iss, Audience: []string{"api://toolgate"}, IDPrefix: string(rune('a'+i)) + ":"})
	}
	v, err := New(Config{Issuers: issuers}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range v.issuers {
		is.keys.keys = []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}
		is.keys.fetched = time.Now().Add(time.Hour)
	}
	sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	now := time.Now()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := maps.Clone(tt.claims)
			c["aud"], c["iat"], c["nbf"], c["exp"] = "api://toolgate", now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
			raw, err := jwt.Signed(sg).Claims(c).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			if id.Principal.Kind != tt.want {
				t.Fatalf("kind %s, want %s", id.Principal.Kind, tt.want)
			}
		})
	}
}

// TestOneSpellingPerToken: a token verifies only as the signer spelled it.
// Base64 decoders also take newlines and non-zero padding bits, which would
// give one signed token many strings (and defeat anything keyed by the
// string); each such spelling is refused as malformed.
func TestOneSpellingPerToken(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	v, err := New(Config{Issuers: []IssuerConfig{{Issuer: "https://idp.test/", Audience: []string{"toolgate"}}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ks := v.issuers["https://idp.test/"].keys
	ks.keys = []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}
	ks.fetched = time.Now().Add(time.Hour)
	sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	good, _ := jwt.Signed(sg).Claims(map[string]any{"iss": "https://idp.test/", "aud": "toolgate", "sub": "a", "exp": time.Now().Add(time.Hour).Unix()}).Serialize()
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	sig := []byte(parts[2])
	// RS256 with 2048 bits: 256 bytes, 342 characters, the last holding 4
	// padding bits.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig[len(sig)-1] = alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])^1]
	for name, raw := range map[string]string{
		"padding bits":       parts[0] + "." + parts[1] + "." + string(sig),
		"newline in payload": parts[0] + "." + parts[1][:5] + "\n" + parts[1][5:] + "." + parts[2],
		"newline in header":  parts[0][:5] + "\r\n" + parts[0][5:] + "." + parts[1] + "." + parts[2],
		"padding":            parts[0] + "." + parts[1] + "." + parts[2] + "==",
		"standard alphabet":  strings.NewReplacer("-", "+", "_", "/").Replace(good),
	} {
		if raw == good {
			continue // the standard alphabet may happen not to differ
		}
		if _, err := v.Verify(context.Background(), raw); err == nil {
			t.Errorf("%s: another spelling of the token verified", name)
		}
	}
}
