package keys

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/compact"
	"github.com/toolgate/toolgate/internal/httpapi"
)

// MaxTokenBytes bounds a token toolgate will parse: a task token carries the
// scope of every hop, but nothing legitimate comes near this.
const MaxTokenBytes = 256 << 10

// DefaultLeeway is the clock skew tolerated on nbf and iat of toolgate's own
// tokens (a replica whose clock runs a little ahead may have signed it).
// Never on exp: toolgate's own tokens expire exactly when they say.
const DefaultLeeway = 30 * time.Second

// reloadEvery bounds how often an unknown kid makes the provider re-read its
// keys, so a flood of forged kids cannot turn into a flood of disk reads.
const reloadEvery = time.Second

// VerifyError says why a token was rejected. Reason is a stable word that
// callers turn into their own codes ("task.expired", …).
type VerifyError struct {
	Reason  string
	Message string
}

func (e *VerifyError) Error() string { return e.Message }

// Reasons of VerifyError.
const (
	ReasonMalformed   = "malformed"
	ReasonAlgorithm   = "algorithm"
	ReasonType        = "type"
	ReasonUnknownKey  = "unknown_key"
	ReasonSignature   = "signature"
	ReasonIssuer      = "issuer"
	ReasonExpired     = "expired"
	ReasonNotYetValid = "not_yet_valid"
	ReasonClaims      = "claims"
)

func verr(reason, format string, args ...any) error {
	return &VerifyError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Tokens signs and verifies the JWTs toolgate issues itself.
type Tokens struct {
	p      Provider
	issuer string
	// Leeway is the clock skew tolerated on nbf and iat (not on exp).
	Leeway time.Duration
	// Now is the clock (tests).
	Now func() time.Time

	mu         sync.Mutex
	lastReload time.Time
}

// NewTokens signs with p's active key and verifies against p's published
// keys; every token carries and must carry iss = issuer.
func NewTokens(p Provider, issuer string) *Tokens {
	return &Tokens{p: p, issuer: issuer, Leeway: DefaultLeeway, Now: time.Now}
}

// Issuer is the "iss" of toolgate's tokens.
func (t *Tokens) Issuer() string { return t.issuer }

// Provider returns the key provider.
func (t *Tokens) Provider() Provider { return t.p }

// Sign serialises claims (a struct or map; it should hold "iss" =
// t.Issuer()) as a compact JWS signed with the active key, with header
// "typ" = typ and "kid" = the key's id.
func (t *Tokens) Sign(ctx context.Context, typ string, claims any) (string, error) {
	k, err := t.p.Active(ctx)
	if err != nil {
		return "", err
	}
	if k.Signing == nil {
		return "", fmt.Errorf("keys: key %s cannot sign", k.ID)
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), k.ID)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Algorithm, Key: k.Signing}, opts)
	if err != nil {
		return "", fmt.Errorf("keys: signer: %w", err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	return tok, nil
}

// header is the part of a JOSE header toolgate checks before anything else.
type header struct {
	Alg  string `json:"alg"`
	Typ  string `json:"typ"`
	Kid  string `json:"kid"`
	Crit []any  `json:"crit"`
}

// ParseHeader decodes the protected header of a compact JWS without
// verifying anything. It exists so that rejections can say exactly what is
// wrong (an algorithm, a type) before the signature is even looked at.
func ParseHeader(raw string) (alg, typ, kid string, err error) {
	if len(raw) > MaxTokenBytes {
		return "", "", "", verr(ReasonMalformed, "the token is longer than %d bytes", MaxTokenBytes)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", "", "", verr(ReasonMalformed, "the token is not a compact JWS (three base64url parts separated by dots)")
	}
	// One token, one spelling: decoders would also take newlines and
	// non-zero padding bits, making many strings of one signed token.
	if err := compact.Check(raw); err != nil {
		return "", "", "", verr(ReasonMalformed, "the token is not a compact JWS in canonical base64url: %v", err)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", "", "", verr(ReasonMalformed, "the token's header is not base64url")
	}
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return "", "", "", verr(ReasonMalformed, "the token's header is not a JSON object")
	}
	if len(h.Crit) > 0 {
		return "", "", "", verr(ReasonMalformed, "the token's header has critical extensions, which toolgate does not support")
	}
	return h.Alg, h.Typ, h.Kid, nil
}

// StandardClaims are the registered claims Verify checks.
type StandardClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud,omitempty"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	ID        string           `json:"jti,omitempty"`
}

// Verify checks a token toolgate signed: its type, algorithm, key, signature,
// issuer and times (exp is required, and exact). It then decodes the claims into out
// (any JSON target) and returns the key id it was signed with.
func (t *Tokens) Verify(ctx context.Context, raw, typ string, out any) (string, error) {
	alg, htyp, kid, err := ParseHeader(raw)
	if err != nil {
		return "", err
	}
	if !slices.Contains(Algorithms, jose.SignatureAlgorithm(alg)) {
		return "", verr(ReasonAlgorithm, "the token is signed with algorithm %q; toolgate's tokens use only EdDSA or ES256", alg)
	}
	if !strings.EqualFold(htyp, typ) {
		return "", verr(ReasonType, "the token's type is %q, not %q", htyp, typ)
	}
	if kid == "" {
		return "", verr(ReasonUnknownKey, "the token names no key (kid)")
	}
	k, err := t.key(ctx, kid)
	if err != nil {
		return "", err
	}
	if string(k.Algorithm) != alg {
		return "", verr(ReasonAlgorithm, "the token says algorithm %q but key %s is %s", alg, kid, k.Algorithm)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{k.Algorithm})
	if err != nil {
		return "", verr(ReasonMalformed, "the token cannot be parsed: %v", err)
	}
	payload, err := jws.Verify(k.Public)
	if err != nil {
		return "", verr(ReasonSignature, "the token's signature does not verify with key %s: it was altered or not signed by this toolgate", kid)
	}
	var std StandardClaims
	if err := json.Unmarshal(payload, &std); err != nil {
		return "", verr(ReasonClaims, "the token's claims are not valid: %v", err)
	}
	if std.Issuer != t.issuer {
		return "", verr(ReasonIssuer, "the token's issuer is %q, not %q", std.Issuer, t.issuer)
	}
	now := t.Now()
	if std.Expiry == nil {
		return "", verr(ReasonClaims, "the token has no expiry (exp)")
	}
	if exp := std.Expiry.Time(); !now.Before(exp) {
		return "", verr(ReasonExpired, "the token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if std.NotBefore != nil && now.Add(t.Leeway).Before(std.NotBefore.Time()) {
		return "", verr(ReasonNotYetValid, "the token is not valid before %s", std.NotBefore.Time().UTC().Format(time.RFC3339))
	}
	if std.IssuedAt != nil && now.Add(t.Leeway).Before(std.IssuedAt.Time()) {
		return "", verr(ReasonNotYetValid, "the token was issued in the future (%s)", std.IssuedAt.Time().UTC().Format(time.RFC3339))
	}
	if out != nil {
		if err := json.Unmarshal(payload, out); err != nil {
			return "", verr(ReasonClaims, "the token's claims are not valid: %v", err)
		}
	}
	return kid, nil
}

// key finds a published key by id, re-reading the provider's keys once (at
// most every reloadEvery) when it is unknown: another process may have
// rotated.
func (t *Tokens) key(ctx context.Context, kid string) (*Key, error) {
	find := func() (*Key, error) {
		ks, err := t.p.Published(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			if k.ID == kid {
				return k, nil
			}
		}
		return nil, nil
	}
	k, err := find()
	if err != nil || k != nil {
		return k, err
	}
	if r, ok := t.p.(Reloader); ok {
		t.mu.Lock()
		due := time.Since(t.lastReload) >= reloadEvery
		if due {
			t.lastReload = time.Now()
		}
		t.mu.Unlock()
		if due {
			if err := r.Reload(ctx); err != nil {
				return nil, err
			}
			if k, err = find(); err != nil || k != nil {
				return k, err
			}
		}
	}
	return nil, verr(ReasonUnknownKey, "the token is signed with key %q, which this toolgate does not publish (never, or retired and expired)", kid)
}

// JWKS returns the published keys as a JWK set.
func JWKS(ctx context.Context, p Provider) (jose.JSONWebKeySet, error) {
	ks, err := p.Published(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(ks))}
	for _, k := range ks {
		set.Keys = append(set.Keys, k.JWK())
	}
	return set, nil
}

// JWKSHandler serves the published keys (GET /.well-known/jwks.json). A
// retired key stays in the set until tokens signed with it have expired.
// The keys are refreshed first when p can tell they changed (another
// process sharing the data directory rotated): a stale set would make
// verifiers refuse the new key's tokens.
func JWKSHandler(p Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if rf, ok := p.(Refresher); ok {
			err = rf.Refresh(r.Context())
		}
		var set jose.JSONWebKeySet
		if err == nil {
			set, err = JWKS(r.Context(), p)
		}
		if err != nil {
			httpapi.WriteError(w, http.StatusServiceUnavailable, "keys.unavailable", "signing keys cannot be read")
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		// Short enough that verifiers see a new key soon after a rotation
		// (they also refetch on an unknown kid).
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(set)
	})
}
