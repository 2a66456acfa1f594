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
)

// maxDocBytes bounds a discovery document or JWKS.
const maxDocBytes = 1 << 20

// DefaultMinRefetch is the shortest time between two fetches of one issuer's
// keys caused by unknown key ids, so forged kids cannot make toolgate hammer
// the provider.
const DefaultMinRefetch = 5 * time.Second

// keySet is one issuer's keys, fetched from its JWKS and cached.
type keySet struct {
	cfg        *IssuerConfig
	client     *http.Client
	now        func() time.Time
	minRefetch time.Duration

	mu      sync.Mutex
	jwksURI string
	keys    []jose.JSONWebKey
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
}

// key returns the issuer's key for kid (and alg), fetching the JWKS when it
// is stale or does not know kid.
func (s *keySet) key(ctx context.Context, kid string, alg jose.SignatureAlgorithm) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	stale := s.keys == nil || now.Sub(s.fetched) >= s.cfg.JWKSRefresh
	var fetchErr error
	if stale {
		fetchErr = s.fetch(ctx, now)
	}
	if k := s.find(kid, alg); k != nil {
		// Keys that could not be refreshed are used for one more refresh
		// interval at most: an unreachable provider does not stop every
		// call at once, but neither are its keys trusted forever.
		if fetchErr == nil || now.Sub(s.fetched) < 2*s.cfg.JWKSRefresh {
			return k, nil
		}
	}
	if fetchErr == nil && !stale && now.Sub(s.tried) >= s.minRefetch {
		fetchErr = s.fetch(ctx, now)
		if k := s.find(kid, alg); k != nil && fetchErr == nil {
			return k, nil
		}
	}
	if fetchErr != nil {
		return nil, errorf(CodeJWKSUnavailable, "the keys of issuer %q cannot be fetched: %v", s.cfg.Issuer, fetchErr)
	}
	if kid == "" {
		return nil, errorf(CodeUnknownKey, "the token names no key (kid) and issuer %q does not have exactly one %s key", s.cfg.Issuer, alg)
	}
	return nil, errorf(CodeUnknownKey, "the token is signed with key %q, which issuer %q does not publish (unknown, or rotated out)", kid, s.cfg.Issuer)
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

func (s *keySet) fetch(ctx context.Context, now time.Time) error {
	s.tried = now
	if s.jwksURI == "" {
		uri, err := s.discover(ctx)
		if err != nil {
			return err
		}
		s.jwksURI = uri
	}
	var set jose.JSONWebKeySet
	if err := s.getJSON(ctx, s.jwksURI, &set); err != nil {
		return err
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, k := range set.Keys {
		// Only public asymmetric keys: a symmetric key in a JWKS would be
		// an HMAC secret published to the world.
		if k.Valid() && k.IsPublic() {
			keys = append(keys, k)
		}
	}
	s.keys = keys
	s.fetched = now
	return nil
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
