package keys

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, dir string, alg jose.SignatureAlgorithm, c *clock) *File {
	t.Helper()
	f, err := OpenFile(dir, Config{Algorithm: string(alg), RotateAfter: 24 * time.Hour, Retain: 2 * time.Hour}, FileOptions{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func claims(c *clock, exp time.Duration) map[string]any {
	return map[string]any{"iss": "toolgate", "sub": "a1", "exp": c.t.Add(exp).Unix(), "iat": c.t.Unix()}
}

func reason(err error) string {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return "not a VerifyError: " + err.Error()
}

func TestSignVerifyBothAlgorithms(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			c := &clock{time.Now()}
			f := open(t, t.TempDir(), alg, c)
			tk := NewTokens(f, "toolgate")
			tk.Now = c.now
			tok, err := tk.Sign(context.Background(), "test+jwt", claims(c, time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]any
			kid, err := tk.Verify(context.Background(), tok, "test+jwt", &out)
			if err != nil {
				t.Fatal(err)
			}
			active, _ := f.Active(context.Background())
			if kid != active.ID || out["sub"] != "a1" {
				t.Fatalf("kid %s (active %s), claims %v", kid, active.ID, out)
			}
			if _, err := tk.Verify(context.Background(), tok, "other+jwt", nil); reason(err) != ReasonType {
				t.Fatalf("wrong typ accepted: %v", err)
			}
		})
	}
}

func TestFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Now()}
	f := open(t, dir, EdDSA, c)
	k, _ := f.Active(context.Background())
	for _, name := range []string{indexFile, k.ID + ".key"} {
		fi, err := os.Stat(filepath.Join(dir, Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %04o", name, fi.Mode().Perm())
		}
	}
	// A key file others can read is refused.
	if err := os.Chmod(filepath.Join(dir, Dir, k.ID+".key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(dir, Config{}, FileOptions{}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
}

func TestRotationKeepsPreviousKeyUntilRetained(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Now()}
	f := open(t, dir, EdDSA, c)
	tk := NewTokens(f, "toolgate")
	tk.Now = c.now
	ctx := context.Background()
	old, err := tk.Sign(ctx, "test+jwt", claims(c, 90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	oldKey, _ := f.Active(ctx)
	newKey, err := f.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if newKey.ID == oldKey.ID {
		t.Fatal("rotation kept the key")
	}
	// The JWKS serves both; the old token still verifies.
	set, _ := JWKS(ctx, f)
	if len(set.Keys) != 2 || set.Keys[0].KeyID != newKey.ID {
		t.Fatalf("jwks after rotation: %+v", set.Keys)
	}
	if _, err := tk.Verify(ctx, old, "test+jwt", nil); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	// New tokens are signed with the new key.
	tok, _ := tk.Sign(ctx, "test+jwt", claims(c, time.Hour))
	if kid, err := tk.Verify(ctx, tok, "test+jwt", nil); err != nil || kid != newKey.ID {
		t.Fatalf("new token: kid %s, %v", kid, err)
	}
	// Past the retention the old key is gone from the JWKS and its tokens
	// (which must have expired by then) are unknown.
	c.t = c.t.Add(2*time.Hour + time.Second)
	set, _ = JWKS(ctx, f)
	if len(set.Keys) != 1 || set.Keys[0].KeyID != newKey.ID {
		t.Fatalf("jwks after retention: %+v", set.Keys)
	}
	// The key is looked up before the times are checked: it is the key
	// that decides here, not the expiry.
	if _, err := tk.Verify(ctx, old, "test+jwt", nil); reason(err) != ReasonUnknownKey {
		t.Fatalf("token of a pruned key: %v", err)
	}
	// The next rotation deletes the pruned key's file.
	if err := f.MaybeRotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, Dir, oldKey.ID+".key")); !os.IsNotExist(err) {
		t.Fatalf("pruned key file still there: %v", err)
	}
}

func TestAutomaticRotationAndOtherProcess(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Now()}
	a := open(t, dir, EdDSA, c)
	b := open(t, dir, ES256, c) // a second process: it finds a's key, makes none
	ka, _ := a.Active(context.Background())
	kb, _ := b.Active(context.Background())
	if ka.ID != kb.ID {
		t.Fatalf("two processes, two active keys: %s %s", ka.ID, kb.ID)
	}
	// b rotates (its config says ES256); a verifies b's new tokens after
	// reloading on the unknown kid.
	c.t = c.t.Add(25 * time.Hour)
	if err := b.MaybeRotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	kb2, _ := b.Active(context.Background())
	if kb2.ID == ka.ID || kb2.Algorithm != ES256 {
		t.Fatalf("no rotation after rotate_after: %+v", kb2)
	}
	tb := NewTokens(b, "toolgate")
	tb.Now = c.now
	tok, err := tb.Sign(context.Background(), "test+jwt", claims(c, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ta := NewTokens(a, "toolgate")
	ta.Now = c.now
	if _, err := ta.Verify(context.Background(), tok, "test+jwt", nil); err != nil {
		t.Fatalf("a cannot verify b's rotated key: %v", err)
	}
}

func TestRejections(t *testing.T) {
	c := &clock{time.Now()}
	f := open(t, t.TempDir(), EdDSA, c)
	tk := NewTokens(f, "toolgate")
	tk.Now = c.now
	ctx := context.Background()
	good, _ := tk.Sign(ctx, "test+jwt", claims(c, time.Hour))
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	k, _ := f.Active(ctx)

	// HS256 made with the public key as the HMAC secret: the classic
	// algorithm-confusion forgery.
	der, _ := x509.MarshalPKIXPublicKey(k.Public)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hsHeader := enc([]byte(`{"alg":"HS256","typ":"test+jwt","kid":"` + k.ID + `"}`))
	mac := hmac.New(sha256.New, pubPEM)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs := hsHeader + "." + parts[1] + "." + enc(mac.Sum(nil))

	otherDir := t.TempDir()
	other := NewTokens(open(t, otherDir, EdDSA, c), "toolgate")
	forged, _ := other.Sign(ctx, "test+jwt", claims(c, time.Hour))
	// A forged token that names our kid.
	oh, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "test+jwt", "kid": k.ID})
	fp := strings.Split(forged, ".")
	forgedKid := enc(oh) + "." + fp[1] + "." + fp[2]

	tampered := parts[0] + "." + enc([]byte(`{"iss":"toolgate","sub":"admin","exp":`+jsonNum(c.t.Add(time.Hour).Unix())+`}`)) + "." + parts[2]
	expired, _ := tk.Sign(ctx, "test+jwt", claims(c, -time.Minute))
	noExp, _ := tk.Sign(ctx, "test+jwt", map[string]any{"iss": "toolgate"})
	wrongIss, _ := tk.Sign(ctx, "test+jwt", map[string]any{"iss": "evil", "exp": c.t.Add(time.Hour).Unix()})
	future, _ := tk.Sign(ctx, "test+jwt", map[string]any{"iss": "toolgate", "exp": c.t.Add(2 * time.Hour).Unix(), "nbf": c.t.Add(time.Hour).Unix()})

	cases := []struct {
		name, tok, want string
	}{
		{"none", enc([]byte(`{"alg":"none","typ":"test+jwt"}`)) + "." + parts[1] + ".", ReasonAlgorithm},
		{"HS256 with the public key", hs, ReasonAlgorithm},
		{"other key", forged, ReasonUnknownKey},
		{"other key, our kid", forgedKid, ReasonSignature},
		{"tampered claims", tampered, ReasonSignature},
		{"expired", expired, ReasonExpired},
		{"no exp", noExp, ReasonClaims},
		{"wrong issuer", wrongIss, ReasonIssuer},
		{"not yet valid", future, ReasonNotYetValid},
		{"two parts", parts[0] + "." + parts[1], ReasonMalformed},
		{"garbage header", "!!." + parts[1] + "." + parts[2], ReasonMalformed},
		{"crit", enc([]byte(`{"alg":"EdDSA","typ":"test+jwt","kid":"`+k.ID+`","crit":["x"],"x":1}`)) + "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"empty", "", ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tk.Verify(ctx, tc.tok, "test+jwt", nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := reason(err); got != tc.want {
				t.Fatalf("reason %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestJWKSHandler(t *testing.T) {
	c := &clock{time.Now()}
	f := open(t, t.TempDir(), ES256, c)
	srv := httptest.NewServer(JWKSHandler(f))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].Algorithm != "ES256" || set.Keys[0].Use != "sig" {
		t.Fatalf("jwks: %+v", set.Keys)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Fatalf("content type %q", ct)
	}
}

func TestReadOnlyCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	f, err := OpenFile(dir, Config{}, FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Active(context.Background()); err == nil {
		t.Fatal("read-only provider has an active key in an empty directory")
	}
	if _, err := os.Stat(filepath.Join(dir, Dir)); !os.IsNotExist(err) {
		t.Fatal("read-only provider created the keys directory")
	}
}

type brokenKeys struct{}

func (brokenKeys) Active(context.Context) (*Key, error)      { return nil, errors.New("disk gone") }
func (brokenKeys) Published(context.Context) ([]*Key, error) { return nil, errors.New("disk gone") }

// TestJWKSUnavailableErrorBody: a JWKS that cannot be read answers with
// the error body of every toolgate API, as JSON.
func TestJWKSUnavailableErrorBody(t *testing.T) {
	rec := httptest.NewRecorder()
	JWKSHandler(brokenKeys{}).ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if rec.Code != 503 || rec.Header().Get("Content-Type") != "application/json" || json.Unmarshal(rec.Body.Bytes(), &b) != nil || b.Error.Code != "keys.unavailable" {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
}
