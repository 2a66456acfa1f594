package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/enforce"
)

// FuzzVerify: any credential bytes either are rejected with an identity
// code, or are exactly one of the two seeded credentials (the signed token,
// the API key; surrounding space aside) and verify to its principal: no
// other string — no altered token, no other spelling of the same token —
// verifies. Nothing panics. The issuer's keys are put in place directly (no
// network in a fuzz loop), and the valid token seeds the corpus so
// mutations reach the claim mapping.
func FuzzVerify(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v, err := New(Config{
		Issuers: []IssuerConfig{{Issuer: "https://idp.test/", Audience: []string{"toolgate"}, OwnerClaim: "owner", GroupsClaim: "realm.roles"}},
		APIKeys: []APIKeyConfig{{Hash: HashAPIKey("tgk_seed"), ID: "dev"}},
	}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	ks := v.issuers["https://idp.test/"].keys
	ks.keys = []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}
	ks.fetched = time.Now().Add(time.Hour) // never stale during the run
	ks.tried = ks.fetched                  // and never refetched

	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	good, _ := jwt.Signed(signer).Claims(map[string]any{
		"iss": "https://idp.test/", "aud": "toolgate", "sub": "agent-1", "client_id": "agent-1",
		"exp": time.Now().Add(time.Hour).Unix(), "owner": "alice", "realm": map[string]any{"roles": []string{"a", "b"}},
		"act": map[string]any{"sub": "sub-agent", "act": map[string]any{"sub": "agent-1"}},
	}).Serialize()
	f.Add(good)
	f.Add("tgk_seed")
	f.Add("")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC50ZXN0LyJ9.")
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := v.Verify(context.Background(), raw)
		if err != nil {
			var c enforce.Coded
			if !errors.As(err, &c) || !strings.HasPrefix(c.ErrorCode(), "identity.") {
				t.Fatalf("error without an identity code: %v", err)
			}
			return
		}
		switch strings.TrimSpace(raw) {
		case good:
			if id.Principal.ID != "sub-agent" || id.Principal.Kind != "agent" || id.Principal.Owner != "alice" {
				t.Fatalf("the seeded token verified to %+v", id.Principal)
			}
		case "tgk_seed":
			if id.Principal.ID != "dev" || id.Principal.Kind != "agent" {
				t.Fatalf("the seeded API key verified to %+v", id.Principal)
			}
		default:
			t.Fatalf("a credential that was never issued verified: %q as %+v", raw, id.Principal)
		}
	})
}
