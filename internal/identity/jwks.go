package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/internal/safeurl"
)

// maxDocBytes bounds a discovery document or JWKS.
const maxDocBytes = 1 << 20

// DefaultMinRefetch is the shortest time between two fetches of one issuer's
// keys caused by unknown key ids, so forged kids cannot make toolgate hammer
// the provider.
const DefaultMinRefetch = 5 * time.Second

// maxBackoff bounds the wait between two fetches after failed ones.
const maxBackoff = time.Minute

// keySet is one issuer's keys, fetched from its JWKS and cached.
type keySet struct {
	cfg        *IssuerConfig
	client     *http.Client
	now        func() time.Time
	minRefetch time.Duration

	// mu guards what follows; it is never held while fetching, so a slow
	// or hanging provider holds up only the calls that need its answer.
	mu       sync.Mutex
	jwksURI  string
	keys     []jose.JSONWebKey
	fetched  time.Time    // last successful fetch
	tried    time.Time    // when the last fetch started
	failures int          // failed fetches since the last good one
	lastErr  error        // why the last fetch failed
	flight   *fetchFlight // the fetch in progress, if any
}

// fetchFlight is one fetch, shared by every call that waits for it; done is
// closed once the key set has been updated.
type fetchFlight struct {
	done chan struct{}
	err  error
}

// key returns the issuer's key for kid (and alg). What a call waits for
// depends on its own token only:
//   - a known key within jwks_refresh answers at once;
//   - a known key past it, within jwks_max_stale more, answers at once and
//     refreshes the set in the background (the last good keys keep serving
//     while the provider is slow or down, for a bounded time);
//   - an unknown key id fetches at once when a fetch is due (the provider
//     may have rotated a key in) and waits for that fetch; otherwise it is
//     refused at once, so forged key ids neither flood the provider nor
//     wait in line;
//   - with no usable keys (first use, or stale past the bound) a call joins
//     the fetch in flight or starts one when due, and otherwise fails
//     closed at once with the last fetch's error.
//
// A fetch is due minRefetch after the last one started; after failures,
// the wait doubles with each one (up to maxBackoff), so a failing provider
// is not asked again by every call.
func (s *keySet) key(ctx context.Context, kid string, alg jose.SignatureAlgorithm) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	now := s.now()
	k := s.find(kid, alg)
	fresh, usable := s.state(now)
	due := s.flight == nil && now.Sub(s.tried) >= s.backoff()
	var f *fetchFlight
	switch {
	case k != nil && fresh:
		s.mu.Unlock()
		return k, nil
	case k != nil && usable:
		if due {
			s.start(now)
		}
		s.mu.Unlock()
		return k, nil
	case usable && !due:
		s.mu.Unlock()
		return nil, s.unknown(kid, alg)
	case due: // an unknown kid, or no usable keys: fetch now and wait
		f = s.start(now)
	case s.flight != nil:
		f = s.flight
	default:
		err := s.lastErr
		s.mu.Unlock()
		return nil, s.unavailable(err)
	}
	s.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, errorf(CodeJWKSUnavailable, "gave up waiting for the keys of issuer %q: %v", s.cfg.Issuer, ctx.Err())
	}
	s.mu.Lock()
	k = s.find(kid, alg)
	_, usable = s.state(s.now())
	s.mu.Unlock()
	switch {
	case k != nil && usable:
		return k, nil
	case f.err != nil:
		return nil, s.unavailable(f.err)
	case !usable:
		return nil, s.unavailable(nil)
	default:
		return nil, s.unknown(kid, alg)
	}
}

// state says whether the keys are within jwks_refresh (fresh) and within
// jwks_max_stale past it (usable); s.mu is held.
func (s *keySet) state(now time.Time) (fresh, usable bool) {
	if s.keys == nil {
		return false, false
	}
	age := now.Sub(s.fetched)
	return age < s.cfg.JWKSRefresh, age < s.cfg.JWKSRefresh+s.cfg.JWKSMaxStale
}

// backoff is how long after the last fetch started the next may start;
// s.mu is held.
func (s *keySet) backoff() time.Duration {
	if s.failures == 0 {
		return s.minRefetch
	}
	d := s.minRefetch
	for i := 1; i < s.failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, max(maxBackoff, s.minRefetch))
}

// start begins a fetch in the background; s.mu is held. The fetch is not
// bound to the context of the call that started it: other calls wait for
// it too, and one caller going away must not fail them.
func (s *keySet) start(now time.Time) *fetchFlight {
	f := &fetchFlight{done: make(chan struct{})}
	s.flight, s.tried = f, now
	uri := s.jwksURI
	go func() {
		keys, uri, err := s.fetch(context.Background(), uri)
		s.mu.Lock()
		if err == nil {
			s.keys, s.jwksURI, s.fetched, s.failures = keys, uri, s.now(), 0
		} else {
			s.failures++
		}
		f.err, s.lastErr, s.flight = err, err, nil
		s.mu.Unlock()
		close(f.done)
	}()
	return f
}

func (s *keySet) unknown(kid string, alg jose.SignatureAlgorithm) error {
	if kid == "" {
		return errorf(CodeUnknownKey, "the token names no key (kid) and issuer %q does not have exactly one %s key", s.cfg.Issuer, alg)
	}
	return errorf(CodeUnknownKey, "the token is signed with key %q, which issuer %q does not publish (unknown, or rotated out)", kid, s.cfg.Issuer)
}

func (s *keySet) unavailable(err error) error {
	if err == nil {
		return errorf(CodeJWKSUnavailable, "the keys of issuer %q are older than jwks_refresh + jwks_max_stale and could not be refreshed", s.cfg.Issuer)
	}
	return errorf(CodeJWKSUnavailable, "the keys of issuer %q cannot be fetched: %v", s.cfg.Issuer, err)
}

// find picks the key with the id (or, for a token without kid, the only
// signing key of the algorithm).
func (s *keySet) find(kid string, alg jose.SignatureAlgorithm) *jose.JSONWebKey {
	var only *jose.JSONWebKey
	n := 0
	for i := range s.keys {
		k := &s.keys[i]
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			continue
		}
		if kid != "" && k.KeyID == kid {
			return k
		}
		only = k
		n++
	}
	if kid == "" && n == 1 {
		return only
	}
	return nil
}

// fetch reads the JWKS (finding its URI by discovery the first time); it
// runs without s.mu.
func (s *keySet) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, string, error) {
	if uri == "" {
		var err error
		if uri, err = s.discover(ctx); err != nil {
			return nil, "", err
		}
	}
	var set jose.JSONWebKeySet
	if err := s.getJSON(ctx, uri, &set); err != nil {
		return nil, "", err
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, k := range set.Keys {
		// Only public asymmetric keys: a symmetric key in a JWKS would be
		// an HMAC secret published to the world.
		if k.Valid() && k.IsPublic() {
			keys = append(keys, k)
		}
	}
	return keys, uri, nil
}

// discover reads the OpenID discovery document and checks that it is the
// issuer's own (OpenID Connect Discovery §4.3).
func (s *keySet) discover(ctx context.Context) (string, error) {
	if s.cfg.JWKSURI != "" {
		return s.cfg.JWKSURI, nil
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	u := strings.TrimSuffix(s.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	if err := s.getJSON(ctx, u, &doc); err != nil {
		return "", err
	}
	if doc.Issuer != s.cfg.Issuer {
		return "", fmt.Errorf("the discovery document at %s is for issuer %q, not %q", u, doc.Issuer, s.cfg.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("the discovery document at %s has no jwks_uri", u)
	}
	if err := safeurl.Check(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("the discovery document at %s names a jwks_uri toolgate will not use: %v", u, err)
	}
	return doc.JWKSURI, nil
}

func (s *keySet) getJSON(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(b) > maxDocBytes {
		return fmt.Errorf("GET %s: larger than %d bytes", url, maxDocBytes)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
