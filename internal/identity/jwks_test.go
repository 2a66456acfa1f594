package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/identity"
)

// heldJWKS serves one key's JWKS, counts requests, and can hold them until
// released or answer 503: a provider that hangs or is down. The real OP
// (idptest) cannot be made to hang on demand, so this small server stands in
// for its JWKS endpoint.
type heldJWKS struct {
	*httptest.Server
	requests atomic.Int32
	arrived  chan struct{}

	mu      sync.Mutex
	hold    chan struct{}
	failing bool
}

func newHeldJWKS(t *testing.T, set jose.JSONWebKeySet) *heldJWKS {
	h := &heldJWKS{arrived: make(chan struct{}, 64)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		h.mu.Lock()
		hold, failing := h.hold, h.failing
		h.mu.Unlock()
		if hold != nil {
			h.arrived <- struct{}{}
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		if failing {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(func() { h.release(); h.Close() })
	return h
}

func (h *heldJWKS) holdRequests() { h.mu.Lock(); h.hold = make(chan struct{}); h.mu.Unlock() }
func (h *heldJWKS) setFailing(f bool) {
	h.mu.Lock()
	h.failing = f
	h.mu.Unlock()
}
func (h *heldJWKS) release() {
	h.mu.Lock()
	if h.hold != nil {
		close(h.hold)
		h.hold = nil
	}
	h.mu.Unlock()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// wait fails the test if done is not closed before the test binary's
// deadline: a hang detector, not a timing threshold.
func wait(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	var expire <-chan time.Time
	if d, ok := t.Deadline(); ok {
		timer := time.NewTimer(time.Until(d) - 5*time.Second)
		defer timer.Stop()
		expire = timer.C
	}
	select {
	case <-done:
	case <-expire:
		t.Fatalf("%s: still waiting at the test deadline", what)
	}
}

// inParallel runs f n times side by side and returns a channel closed when
// all have returned.
func inParallel(n int, f func(i int)) <-chan struct{} {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// TestHangingProvider: a provider whose JWKS endpoint hangs or fails holds
// up only the calls that cannot be judged without it, and is asked once
// for all of them; no lock is held while it hangs, the last good keys
// serve for jwks_max_stale, and a failing provider is asked again only
// after a growing backoff, not by every call.
func TestHangingProvider(t *testing.T) {
	const iss = "https://idp.test/"
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newHeldJWKS(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	clk := &clock{t: time.Now().Truncate(time.Second)}
	v, err := identity.New(identity.Config{Issuers: []identity.IssuerConfig{{
		Issuer: iss, Audience: []string{"toolgate"}, JWKSURI: srv.URL, Kind: "agent",
		JWKSRefresh: time.Minute, JWKSMaxStale: time.Minute,
	}}}, identity.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var n atomic.Int32
	token := func(kid string) string {
		i := n.Add(1) // a new token each time: none is answered from the verified-token cache
		sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
		raw, _ := jwt.Signed(sg).Claims(map[string]any{
			"iss": iss, "aud": "toolgate", "sub": fmt.Sprintf("agent-%d", i), "exp": clk.Now().Add(time.Hour).Unix(),
		}).Serialize()
		return raw
	}
	verify := func(kid string) error { _, err := v.Verify(ctx, token(kid)); return err }
	requests := func(want int32, when string) {
		t.Helper()
		if got := srv.requests.Load(); got != want {
			t.Fatalf("%s: the JWKS was requested %d times in all, want %d", when, got, want)
		}
	}

	// First use, provider hanging: four calls share one fetch.
	srv.holdRequests()
	toks := []string{token("k1"), token("k1"), token("k1"), token("k1")}
	done := inParallel(4, func(i int) {
		if _, err := v.Verify(ctx, toks[i]); err != nil {
			t.Errorf("first use: %v", err)
		}
	})
	wait(t, srv.arrived, "the first fetch")
	srv.release()
	wait(t, done, "calls sharing the first fetch")
	requests(1, "four calls on first use")

	// Past jwks_refresh, within jwks_max_stale: known keys answer while the
	// refresh hangs.
	srv.holdRequests()
	clk.Add(90 * time.Second)
	wait(t, inParallel(4, func(int) {
		if err := verify("k1"); err != nil {
			t.Errorf("known key while the refresh hangs: %v", err)
		}
	}), "known keys while the refresh hangs")
	wait(t, srv.arrived, "the background refresh")
	requests(2, "the stale keys' refresh")

	// An unknown kid while a fetch hangs is refused at once, and valid
	// tokens still verify.
	if err := verify("forged"); code(err) != identity.CodeUnknownKey {
		t.Fatalf("unknown kid during a fetch: %v", err)
	}
	srv.release()
	identity.WaitFetch(v, iss)

	// An unknown kid once a fetch is due starts one and waits for it; other
	// unknown kids meanwhile, and valid tokens, answer at once.
	srv.holdRequests()
	clk.Add(identity.DefaultMinRefetch)
	first := make(chan struct{})
	go func() {
		defer close(first)
		if err := verify("forged-0"); code(err) != identity.CodeUnknownKey {
			t.Errorf("the unknown kid that fetched: %v", err)
		}
	}()
	wait(t, srv.arrived, "the unknown kid's fetch")
	wait(t, inParallel(4, func(i int) {
		if err := verify(fmt.Sprintf("forged-%d", i+1)); code(err) != identity.CodeUnknownKey {
			t.Errorf("unknown kid during the fetch: %v", err)
		}
		if err := verify("k1"); err != nil {
			t.Errorf("valid token during an unknown kid's fetch: %v", err)
		}
	}), "calls during an unknown kid's fetch")
	requests(3, "one fetch for five unknown kids")
	srv.release()
	wait(t, first, "the unknown kid that fetched")

	// The provider fails, and the keys are past jwks_max_stale: calls fail
	// closed; the provider is asked once, then after 5 s, then after 10 s.
	srv.setFailing(true)
	clk.Add(3 * time.Minute)
	for range 4 {
		if err := verify("k1"); code(err) != identity.CodeJWKSUnavailable {
			t.Fatalf("stale keys, failing provider: %v", err)
		}
	}
	requests(4, "a failing provider, first try")
	clk.Add(5 * time.Second)
	for range 4 {
		_ = verify("k1")
	}
	requests(5, "a failing provider, 5 s later")
	clk.Add(5 * time.Second)
	_ = verify("k1")
	requests(5, "a failing provider, 5 s into a 10 s backoff")
	clk.Add(5 * time.Second)
	srv.setFailing(false)
	if err := verify("k1"); err != nil {
		t.Fatalf("the provider is back: %v", err)
	}
	requests(6, "the provider is back")
}

// TestRedirects: the JWKS and discovery clients follow a redirect only
// within the origin they asked; one to another origin (another port or
// host name) fails the fetch, and the other origin receives nothing.
func TestRedirects(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	var thiefGot atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		thiefGot.Add(1)
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer thief.Close()
	var idp *httptest.Server
	idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": idp.URL + "/same", "jwks_uri": idp.URL + "/moved"})
		case "/moved":
			http.Redirect(w, r, idp.URL+"/keys", http.StatusFound)
		case "/keys":
			_ = json.NewEncoder(w).Encode(set)
		case "/away/.well-known/openid-configuration":
			http.Redirect(w, r, thief.URL+r.URL.Path, http.StatusTemporaryRedirect)
		case "/plain/.well-known/openid-configuration":
			// A discovery document naming plain-http keys elsewhere.
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": idp.URL + "/plain", "jwks_uri": "http://keys.example.com/jwks"})
		case "/jwks-away":
			http.Redirect(w, r, strings.Replace(thief.URL, "127.0.0.1", "localhost", 1)+"/keys", http.StatusMovedPermanently)
		}
	}))
	defer idp.Close()

	sign := func(iss string) string {
		sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		raw, _ := jwt.Signed(sg).Claims(map[string]any{"iss": iss, "aud": "toolgate", "sub": "a", "exp": time.Now().Add(time.Hour).Unix()}).Serialize()
		return raw
	}
	v, err := identity.New(identity.Config{Issuers: []identity.IssuerConfig{
		{Issuer: idp.URL + "/same", Audience: []string{"toolgate"}, IDPrefix: "same:"},
		{Issuer: idp.URL + "/away", Audience: []string{"toolgate"}, IDPrefix: "away:"},
		{Issuer: idp.URL + "/jwks", JWKSURI: idp.URL + "/jwks-away", Audience: []string{"toolgate"}, IDPrefix: "jwks:"},
		{Issuer: idp.URL + "/plain", Audience: []string{"toolgate"}, IDPrefix: "plain:"},
	}}, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(idp.URL+"/same")); err != nil {
		t.Fatalf("a same-origin redirect of the JWKS: %v", err)
	}
	for _, iss := range []string{idp.URL + "/away", idp.URL + "/jwks"} {
		if _, err := v.Verify(ctx, sign(iss)); code(err) != identity.CodeJWKSUnavailable || !strings.Contains(err.Error(), "another origin") {
			t.Fatalf("%s: a redirect to another origin: %v", iss, err)
		}
	}
	if n := thiefGot.Load(); n != 0 {
		t.Fatalf("the other origin received %d requests", n)
	}
	if _, err := v.Verify(ctx, sign(idp.URL+"/plain")); code(err) != identity.CodeJWKSUnavailable || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("a discovered plain-http jwks_uri: %v", err)
	}
}
