package txntoken_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/txntoken"
)

// signer makes tokens the way toolgate does (go-jose, compact JWS), so
// that tests can also make the ones toolgate never would.
type signer struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv any
	pub  any
}

func newSigner(t testing.TB, alg jose.SignatureAlgorithm) *signer {
	switch alg {
	case jose.EdDSA:
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		return &signer{kid: "k-ed", alg: alg, priv: priv, pub: pub}
	default:
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		return &signer{kid: "k-es", alg: alg, priv: k, pub: &k.PublicKey}
	}
}

func (s *signer) keySet() *jose.JSONWebKeySet {
	return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: s.pub, KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}}}
}

func (s *signer) sign(t testing.TB, typ string, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", s.kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jws.CompactSerialize()
	return tok
}

var now = time.Unix(1_767_225_600, 0)

func claims(args string) map[string]any {
	digest, _ := txntoken.InputSHA256(json.RawMessage(args))
	return map[string]any{
		"iss": "toolgate", "aud": "https://tools.test/mcp", "iat": now.Unix(), "exp": now.Add(60 * time.Second).Unix(),
		"jti": "j1", "txn": "d1", "sub": "alice", "req_wl": "agent", "scope": "tools/echo",
		"tctx": map[string]any{"tool": "echo", "input_sha256": digest, "task": "t1", "chain": []string{"agent"}},
	}
}

func verifier(t testing.TB, s *signer) *txntoken.Verifier {
	v, err := txntoken.New(txntoken.Options{KeySet: s.keySet(), Audience: "https://tools.test/mcp", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func reasonOf(err error) string {
	if err == nil {
		return "no error"
	}
	var e *txntoken.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return "not a txntoken.Error: " + err.Error()
}

func TestRejections(t *testing.T) {
	s := newSigner(t, jose.EdDSA)
	v := verifier(t, s)
	ctx := context.Background()
	args := json.RawMessage(`{"text":"hi"}`)
	with := func(k string, val any) map[string]any {
		c := claims(`{"text":"hi"}`)
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	other := newSigner(t, jose.EdDSA)
	other.kid = s.kid // same kid, another key: a forgery
	es := newSigner(t, jose.ES256)

	// alg none and HS256 "signed" with the public key: never accepted.
	hdr := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) }
	payload, _ := json.Marshal(claims(`{"text":"hi"}`))
	body := base64.RawURLEncoding.EncodeToString(payload)
	none := hdr(`{"alg":"none","typ":"txntoken+jwt","kid":"k-ed"}`) + "." + body + "."
	mac := hmac.New(sha256.New, s.pub.(ed25519.PublicKey))
	mac.Write([]byte(hdr(`{"alg":"HS256","typ":"txntoken+jwt","kid":"k-ed"}`) + "." + body))
	hs := hdr(`{"alg":"HS256","typ":"txntoken+jwt","kid":"k-ed"}`) + "." + body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	for _, tc := range []struct {
		name, token, reason string
	}{
		{"empty", "", txntoken.ReasonMissing},
		{"garbage", "not.a.token", txntoken.ReasonMalformed},
		{"alg none", none, txntoken.ReasonAlgorithm},
		{"HS256 with the public key", hs, txntoken.ReasonAlgorithm},
		{"another type", s.sign(t, "toolgate-task+jwt", claims(`{"text":"hi"}`)), txntoken.ReasonType},
		{"no type", s.sign(t, "", claims(`{"text":"hi"}`)), txntoken.ReasonType},
		{"forged signature", other.sign(t, txntoken.Type, claims(`{"text":"hi"}`)), txntoken.ReasonSignature},
		{"unknown key", es.sign(t, txntoken.Type, claims(`{"text":"hi"}`)), txntoken.ReasonUnknownKey},
		{"other issuer", s.sign(t, txntoken.Type, with("iss", "evil")), txntoken.ReasonIssuer},
		{"other audience", s.sign(t, txntoken.Type, with("aud", "https://other.test")), txntoken.ReasonAudience},
		{"no audience", s.sign(t, txntoken.Type, with("aud", nil)), txntoken.ReasonAudience},
		{"expired", s.sign(t, txntoken.Type, with("exp", now.Add(-6*time.Second).Unix())), txntoken.ReasonExpired},
		{"no exp", s.sign(t, txntoken.Type, with("exp", nil)), txntoken.ReasonClaims},
		{"no iat", s.sign(t, txntoken.Type, with("iat", nil)), txntoken.ReasonClaims},
		{"issued in the future", s.sign(t, txntoken.Type, with("iat", now.Add(time.Minute).Unix())), txntoken.ReasonNotYetValid},
		{"no jti", s.sign(t, txntoken.Type, with("jti", nil)), txntoken.ReasonClaims},
		{"no txn", s.sign(t, txntoken.Type, with("txn", nil)), txntoken.ReasonClaims},
		{"no sub", s.sign(t, txntoken.Type, with("sub", nil)), txntoken.ReasonClaims},
		{"no scope", s.sign(t, txntoken.Type, with("scope", nil)), txntoken.ReasonClaims},
		{"no tctx", s.sign(t, txntoken.Type, with("tctx", nil)), txntoken.ReasonClaims},
		{"bad digest", s.sign(t, txntoken.Type, with("tctx", map[string]any{"tool": "echo", "input_sha256": "xyz"})), txntoken.ReasonClaims},
		{"other tool", s.sign(t, txntoken.Type, with("tctx", map[string]any{"tool": "rm", "input_sha256": strings.Repeat("0", 64)})), txntoken.ReasonTool},
		{"other input", s.sign(t, txntoken.Type, with("tctx", map[string]any{"tool": "echo", "input_sha256": strings.Repeat("0", 64)})), txntoken.ReasonInput},
		{"too long", strings.Repeat("a", txntoken.MaxTokenBytes+1), txntoken.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(ctx, tc.token, "echo", args)
			if err == nil || reasonOf(err) != tc.reason {
				t.Fatalf("got %v, want reason %s", err, tc.reason)
			}
		})
	}
	// A valid one, once; "application/txntoken+jwt" is the same type.
	ok := s.sign(t, "application/txntoken+jwt", claims(`{"text":"hi"}`))
	if _, err := v.Verify(ctx, ok, "echo", args); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, ok, "echo", args); reasonOf(err) != txntoken.ReasonReplayed {
		t.Fatalf("replay: %v", err)
	}
}

func TestInputSHA256(t *testing.T) {
	a, _ := txntoken.InputSHA256(json.RawMessage(`{"b":[1,2],"a":"\u00e9"}`))
	b, _ := txntoken.InputSHA256(json.RawMessage(` {"a":"é","b":[1, 2]} `))
	if a != b {
		t.Fatal("the same arguments written differently must have one digest")
	}
	e1, _ := txntoken.InputSHA256(nil)
	e2, _ := txntoken.InputSHA256(json.RawMessage(" null "))
	e3, _ := txntoken.InputSHA256(json.RawMessage(`{}`))
	if e1 != e3 || e2 != e3 {
		t.Fatal("no arguments are {}")
	}
	// RFC 8785: SHA-256 of "{}".
	if e3 != "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Fatalf("digest of {}: %s", e3)
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `{"n":9007199254740993}`, `{"s":"\ud800"}`, `{`} {
		if _, err := txntoken.InputSHA256(json.RawMessage(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestReplayCacheBound(t *testing.T) {
	c := txntoken.NewMemoryReplayCache(2)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	for _, id := range []string{"a", "b"} {
		if ok, err := c.Use(ctx, id, exp); !ok || err != nil {
			t.Fatal(id, ok, err)
		}
	}
	if ok, err := c.Use(ctx, "a", exp); ok || err != nil {
		t.Fatal("a used twice")
	}
	// Full of unexpired ids: refuse rather than forget one early.
	if _, err := c.Use(ctx, "c", exp); !errors.Is(err, txntoken.ErrReplayCacheFull) {
		t.Fatalf("full: %v", err)
	}
	// Expired ids make room.
	if ok, err := c.Use(ctx, "d", time.Now().Add(-time.Second)); ok || err == nil {
		t.Log("an already expired id is refused while full, fine")
	}
}

// TestMiddleware: the middleware checks tools/call only, and reads requests
// strictly enough that no parser can see a call where it saw none.
func TestMiddleware(t *testing.T) {
	s := newSigner(t, jose.EdDSA)
	v := verifier(t, s)
	var reached []string
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		name := "-"
		if c := txntoken.ClaimsFrom(r.Context()); c != nil {
			name = c.Context.Tool
		}
		reached = append(reached, name+" "+string(b))
	}))
	post := func(body string, header http.Header) int {
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		for k, v := range header {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	tok := func() http.Header {
		c := claims(`{"text":"hi"}`)
		c["jti"] = rand.Text()
		return http.Header{"Txn-Token": {s.sign(t, txntoken.Type, c)}}
	}
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`
	for _, tc := range []struct {
		name   string
		body   string
		header http.Header
		status int
	}{
		{"a call with its token", call, tok(), 200},
		{"bearer", call, http.Header{"Authorization": {"Bearer " + tok().Get("Txn-Token")}}, 200},
		{"a call without a token", call, nil, 401},
		{"a call with other arguments", strings.Replace(call, `"hi"`, `"bye"`, 1), tok(), 403},
		{"tools/list passes", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, 200},
		{"a notification passes", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, 200},
		{"method in another case", `{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"echo","arguments":{}}}`, nil, 401},
		{"escaped method", `{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"echo"}}`, nil, 401},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list","params":{"name":"echo"}}`, nil, 400},
		{"duplicate arguments", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"Arguments":{"text":"rm"}}}`, tok(), 400},
		{"non-ASCII key", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"argumentſ":{"text":"rm"}}}`, tok(), 400},
		{"a batch with a call", "[" + call + "]", tok(), 400},
		{"a batch without", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, nil, 200},
		{"not JSON", `{"jsonrpc":`, nil, 400},
		{"trailing data", call + `{}`, tok(), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.body, tc.header); got != tc.status {
				t.Fatalf("HTTP %d, want %d", got, tc.status)
			}
		})
	}
	if len(reached) != 5 || !strings.HasPrefix(reached[0], "echo ") {
		t.Fatalf("reached the server: %q", reached)
	}
}
