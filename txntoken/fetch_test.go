package txntoken_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/txntoken"
)

// jwksServer serves a signer's JWKS and counts the requests; while held, a
// request announces itself on arrived and waits for release (an IdP or a
// toolgate that hangs).
type jwksServer struct {
	*httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	hold     chan struct{} // nil: answer at once
	failing  bool          // answer 503
	arrived  chan struct{}
}

func newJWKSServer(t *testing.T, s *signer) *jwksServer {
	j := &jwksServer{arrived: make(chan struct{}, 16)}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.requests.Add(1)
		j.mu.Lock()
		hold, failing := j.hold, j.failing
		j.mu.Unlock()
		if failing {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if hold != nil {
			j.arrived <- struct{}{}
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		_ = json.NewEncoder(w).Encode(s.keySet())
	}))
	t.Cleanup(func() { j.release(); j.Close() })
	return j
}

// holdRequests makes the next requests wait until release.
func (j *jwksServer) holdRequests() {
	j.mu.Lock()
	j.hold = make(chan struct{})
	j.mu.Unlock()
}

func (j *jwksServer) release() {
	j.mu.Lock()
	if j.hold != nil {
		close(j.hold)
		j.hold = nil
	}
	j.mu.Unlock()
}

// settable is a clock the test moves.
type settable struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settable) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *settable) Add(d time.Duration) {
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

func tokenAt(t *testing.T, s *signer, jti string, at time.Time) string {
	c := claims(`{"text":"hi"}`)
	c["jti"] = jti
	c["iat"], c["exp"] = at.Unix(), at.Add(time.Minute).Unix()
	return s.sign(t, txntoken.Type, c)
}

func tokenFor(t *testing.T, s *signer, jti string) string { return tokenAt(t, s, jti, now) }

// TestUnknownKeyDoesNotStallValidTokens: tokens naming key ids toolgate
// never published (no secret needed to make one) start at most one JWKS
// fetch per second; while that fetch hangs, valid tokens verify and further
// unknown key ids are refused at once, without another fetch.
func TestUnknownKeyDoesNotStallValidTokens(t *testing.T) {
	s := newSigner(t, jose.EdDSA)
	srv := newJWKSServer(t, s)
	clk := &settable{t: now}
	v, err := txntoken.New(txntoken.Options{JWKSURL: srv.URL, Audience: "https://tools.test/mcp", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, tokenFor(t, s, "first"), "echo", json.RawMessage(`{"text":"hi"}`)); err != nil {
		t.Fatal(err)
	}

	// An attacker's token with an unknown kid, after the rate limit has
	// passed: it starts a fetch, which hangs.
	srv.holdRequests()
	clk.Add(2 * time.Second)
	forger := &signer{kid: "forged-0", alg: s.alg, priv: s.priv, pub: s.pub}
	firstDone := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, tokenFor(t, forger, "a0"), "echo", json.RawMessage(`{"text":"hi"}`))
		firstDone <- err
	}()
	wait(t, srv.arrived, "the unknown key id's fetch")

	// Meanwhile: four attackers with other unknown kids, and valid calls.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Go(func() {
			f := &signer{kid: "forged-" + string(rune('1'+i)), alg: s.alg, priv: s.priv, pub: s.pub}
			_, err := v.Verify(ctx, tokenFor(t, f, "a"), "echo", json.RawMessage(`{"text":"hi"}`))
			errs <- err
		})
	}
	attackers := make(chan struct{})
	go func() { wg.Wait(); close(attackers) }()
	wait(t, attackers, "unknown key ids during a fetch")
	close(errs)
	for err := range errs {
		if reasonOf(err) != txntoken.ReasonUnknownKey {
			t.Fatalf("an unknown kid during a fetch: %v, want %s", err, txntoken.ReasonUnknownKey)
		}
	}
	for i := range 8 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := v.Verify(ctx, tokenFor(t, s, "valid-"+string(rune('a'+i))), "echo", json.RawMessage(`{"text":"hi"}`)); err != nil {
				t.Errorf("valid token while the JWKS fetch hangs: %v", err)
			}
		}()
		wait(t, done, "a valid token while an unknown key id's fetch hangs")
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("the JWKS was fetched %d times, want 2 (first use, one unknown kid)", n)
	}

	srv.release()
	err = <-firstDone
	if reasonOf(err) != txntoken.ReasonUnknownKey {
		t.Fatalf("the unknown kid that started the fetch: %v", err)
	}
}

// TestFetchShared: calls side by side on first use share one fetch; a key
// past its refresh interval still verifies at once while the set is
// refreshed in the background; a failed fetch is not retried by every call.
func TestFetchShared(t *testing.T) {
	s := newSigner(t, jose.ES256)
	srv := newJWKSServer(t, s)
	clk := &settable{t: now}
	v, err := txntoken.New(txntoken.Options{JWKSURL: srv.URL, Audience: "https://tools.test/mcp", Now: clk.Now, JWKSRefresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	verify := func(jti string) error {
		_, err := v.Verify(ctx, tokenAt(t, s, jti, clk.Now()), "echo", json.RawMessage(`{"text":"hi"}`))
		return err
	}

	srv.holdRequests()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if err := verify("first-" + string(rune('a'+i))); err != nil {
				t.Errorf("first use: %v", err)
			}
		})
	}
	wait(t, srv.arrived, "the first fetch")
	srv.release()
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	wait(t, all, "calls sharing the first fetch")
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("six calls on first use fetched %d times, want 1", n)
	}

	// Past the refresh interval, within one more: the cached key answers
	// while the refresh hangs.
	srv.holdRequests()
	clk.Add(90 * time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := verify("stale"); err != nil {
			t.Errorf("known key past the refresh interval: %v", err)
		}
	}()
	wait(t, done, "a known key while the refresh hangs")
	wait(t, srv.arrived, "the background refresh")
	srv.release()
	txntoken.WaitFetch(v)

	// The provider fails: past both intervals every call fails closed, and
	// within a second of a failed fetch without trying again.
	srv.mu.Lock()
	srv.failing = true
	srv.mu.Unlock()
	clk.Add(3 * time.Minute)
	for i := range 5 {
		if err := verify("gone-" + string(rune('a'+i))); reasonOf(err) != txntoken.ReasonKeysUnavailable {
			t.Fatalf("keys too old and the JWKS unreachable: %v", err)
		}
	}
	if n := srv.requests.Load(); n != 3 {
		t.Fatalf("the JWKS was requested %d times, want 3 (first use, refresh, one failed try)", n)
	}
}

// TestJWKSRedirect: the JWKS client follows a redirect within its origin
// only; one to another origin fails closed and reaches nothing there.
func TestJWKSRedirect(t *testing.T) {
	s := newSigner(t, jose.EdDSA)
	var thiefGot atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		thiefGot.Add(1)
		_ = json.NewEncoder(w).Encode(s.keySet())
	}))
	defer thief.Close()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, srv.URL+"/keys", http.StatusFound)
		case "/keys":
			_ = json.NewEncoder(w).Encode(s.keySet())
		default:
			http.Redirect(w, r, thief.URL+"/keys", http.StatusTemporaryRedirect)
		}
	}))
	defer srv.Close()
	for path, want := range map[string]string{"/same": "no error", "/away": txntoken.ReasonKeysUnavailable} {
		v, err := txntoken.New(txntoken.Options{JWKSURL: srv.URL + path, Audience: "https://tools.test/mcp", Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), tokenFor(t, s, "j"), "echo", json.RawMessage(`{"text":"hi"}`))
		if reasonOf(err) != want {
			t.Fatalf("%s: %v, want %s", path, err, want)
		}
	}
	if n := thiefGot.Load(); n != 0 {
		t.Fatalf("the other origin received %d requests", n)
	}
}

// TestJWKSURLMustBeSecure: toolgate's keys are fetched over https, or over
// plain http from this machine only.
func TestJWKSURLMustBeSecure(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://toolgate.example.com/.well-known/jwks.json": true,
		"http://127.0.0.1:8470/.well-known/jwks.json":        true,
		"http://toolgate.internal/.well-known/jwks.json":     false,
		"toolgate.internal/.well-known/jwks.json":            false,
	} {
		_, err := txntoken.New(txntoken.Options{JWKSURL: url, Audience: "https://tools.test/mcp"})
		if (err == nil) != ok {
			t.Errorf("%s: %v", url, err)
		}
	}
}

// TestOneSpellingPerToken: a per-call token verifies only as toolgate
// spelled it; other spellings of the same bytes (newlines, non-zero
// padding bits) are malformed.
func TestOneSpellingPerToken(t *testing.T) {
	s := newSigner(t, jose.ES256)
	v := verifier(t, s)
	good := tokenFor(t, s, "one")
	parts := strings.Split(good, ".")
	sig := []byte(parts[2])
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig[len(sig)-1] = alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])^1] // ES256: 64 bytes, 4 padding bits
	for name, raw := range map[string]string{
		"padding bits":       parts[0] + "." + parts[1] + "." + string(sig),
		"newline in payload": parts[0] + "." + parts[1][:5] + "\n" + parts[1][5:] + "." + parts[2],
		"newline in header":  parts[0][:5] + "\r" + parts[0][5:] + "." + parts[1] + "." + parts[2],
	} {
		if _, err := v.Verify(context.Background(), raw, "echo", json.RawMessage(`{"text":"hi"}`)); reasonOf(err) != txntoken.ReasonMalformed {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := v.Verify(context.Background(), good, "echo", json.RawMessage(`{"text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
}
