package txntoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/compact"
	"github.com/toolgate/toolgate/internal/redirect"
	"github.com/toolgate/toolgate/internal/safeurl"
)

// algorithms are the only signature algorithms toolgate signs with. Nothing
// else verifies: no "none", no HMAC (a public key is never a shared secret).
var algorithms = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

// Defaults.
const (
	// DefaultLeeway is the clock skew tolerated on exp and iat.
	DefaultLeeway = 5 * time.Second
	// DefaultJWKSRefresh is how long fetched keys are used before they are
	// fetched again.
	DefaultJWKSRefresh = 5 * time.Minute
	// refetchEvery bounds how often a token naming an unknown key makes the
	// verifier fetch the JWKS, so forged key ids cannot flood toolgate.
	refetchEvery = time.Second
	maxJWKSBytes = 1 << 20
)

// Options configure a Verifier. Audience and one of JWKSURL or KeySet are
// required.
type Options struct {
	// JWKSURL is toolgate's JWKS: <toolgate serve>/.well-known/jwks.json;
	// https, or plain http only to a loopback host (keys fetched over plain
	// HTTP from elsewhere could be replaced on the way).
	JWKSURL string
	// KeySet is a fixed set of keys to use instead of fetching (tests, or a
	// server that gets toolgate's JWKS some other way).
	KeySet *jose.JSONWebKeySet
	// Issuer is the required "iss" (default DefaultIssuer, "toolgate").
	Issuer string
	// Audience is this server as toolgate names it (the "aud" toolgate puts
	// in its tokens: credentials.servers.<name>.audience in its config).
	Audience string
	// Leeway is the clock skew tolerated on exp and iat: DefaultLeeway when
	// zero, none when negative.
	Leeway time.Duration
	// Replay remembers used token ids (default: NewMemoryReplayCache(0),
	// for one process; servers with several replicas need a shared one).
	Replay ReplayCache
	// JWKSRefresh is how long fetched keys are used (default 5m); for one
	// more interval they still verify while a refresh runs in the
	// background (or fails: toolgate unreachable), then never. A key id the
	// verifier does not know makes it fetch at once, at most every second,
	// so a key toolgate rotated in is found at its first token; other
	// unknown key ids meanwhile are refused at once, and no valid token
	// ever waits for a fetch it does not need.
	JWKSRefresh time.Duration
	// HTTPClient fetches the JWKS (default: a client with a 10 s timeout).
	// It follows redirects only within the JWKS URL's origin.
	HTTPClient *http.Client
	// Now is the clock (tests).
	Now func() time.Time
}

// Verifier checks per-call tokens. It is safe for concurrent use.
type Verifier struct {
	o      Options
	leeway time.Duration

	// mu guards what follows; it is never held while fetching.
	mu      sync.Mutex
	keys    map[string]jose.JSONWebKey
	fetched time.Time    // when keys were last fetched (successfully)
	tried   time.Time    // when the last fetch started
	lastErr error        // why the last fetch failed (nil: it did not)
	flight  *fetchFlight // the fetch in progress, if any
}

// New checks the options.
func New(o Options) (*Verifier, error) {
	if o.Audience == "" {
		return nil, errors.New("txntoken: Audience is required: a token for another server must not verify here")
	}
	if (o.JWKSURL == "") == (o.KeySet == nil) {
		return nil, errors.New("txntoken: give exactly one of JWKSURL and KeySet")
	}
	if o.JWKSURL != "" {
		if err := safeurl.Check(o.JWKSURL); err != nil {
			return nil, fmt.Errorf("txntoken: JWKSURL: %w", err)
		}
	}
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	v := &Verifier{o: o, leeway: o.Leeway}
	switch {
	case o.Leeway == 0:
		v.leeway = DefaultLeeway
	case o.Leeway < 0:
		v.leeway = 0
	}

	if v.o.JWKSRefresh <= 0 {
		v.o.JWKSRefresh = DefaultJWKSRefresh
	}
	if v.o.HTTPClient == nil {
		v.o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	v.o.HTTPClient = redirect.Client(v.o.HTTPClient, redirect.SameOrigin)
	if v.o.Now == nil {
		v.o.Now = time.Now
	}
	if v.o.Replay == nil {
		mc := NewMemoryReplayCache(0)
		mc.now = v.o.Now // the clock that decides expiry decides how long an id is kept
		v.o.Replay = mc
	}
	if o.KeySet != nil {
		v.keys = usableKeys(o.KeySet)
	}
	return v, nil
}

// Error says why a token was rejected. Reason is a stable word.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return "txn-token rejected (" + e.Reason + "): " + e.Message }

// Reasons of Error.
const (
	ReasonMissing         = "missing"
	ReasonMalformed       = "malformed"
	ReasonType            = "type"
	ReasonAlgorithm       = "algorithm"
	ReasonUnknownKey      = "unknown_key"
	ReasonKeysUnavailable = "keys_unavailable"
	ReasonSignature       = "signature"
	ReasonIssuer          = "issuer"
	ReasonAudience        = "audience"
	ReasonExpired         = "expired"
	ReasonNotYetValid     = "not_yet_valid"
	ReasonClaims          = "claims"
	// ReasonTool and ReasonInput: a valid token, but for another call.
	ReasonTool  = "tool"
	ReasonInput = "input"
	// ReasonReplayed: the token was used before.
	ReasonReplayed = "replayed"
	// ReasonReplayCache: the replay cache cannot record the token (full,
	// or its store failed), so single use cannot be guaranteed.
	ReasonReplayCache = "replay_cache"
)

func rejectf(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// IsBinding tells a token that is valid but for another call (tool or
// arguments) from one that is not valid at all.
func (e *Error) IsBinding() bool { return e.Reason == ReasonTool || e.Reason == ReasonInput }

// Verify checks that token allows this call — tool is the params.name the
// server received and args its params.arguments — and uses it up: a second
// Verify of the same token fails with ReasonReplayed. Errors are *Error.
func (v *Verifier) Verify(ctx context.Context, token, tool string, args json.RawMessage) (*Claims, error) {
	c, err := v.Parse(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := c.Allows(tool, args); err != nil {
		return nil, err
	}
	// Last, so a token for another call is not used up by a failed try.
	fresh, err := v.o.Replay.Use(ctx, c.ID, c.Expiry.Time().Add(v.leeway))
	if err != nil {
		return nil, rejectf(ReasonReplayCache, "the replay cache cannot record the token, so it cannot be used once only: %v", err)
	}
	if !fresh {
		return nil, rejectf(ReasonReplayed, "the token %s was already used; a per-call token is good for one call", c.ID)
	}
	return c, nil
}

// VerifyCall is Verify for the params of a tools/call that carries its
// token in params._meta (stdio servers).
func (v *Verifier) VerifyCall(ctx context.Context, params json.RawMessage) (*Claims, error) {
	// Read as strictly as the middleware reads a request (strictObject).
	p, ok := strictObject(params)
	var name string
	if !ok || json.Unmarshal(p["name"], &name) != nil {
		return nil, rejectf(ReasonMalformed, "the tools/call params are not a JSON object with a string name (or have duplicate keys)")
	}
	meta, ok := strictObject(p["_meta"])
	var token string
	if !ok || json.Unmarshal(meta[strings.ToLower(MetaKey)], &token) != nil || token == "" {
		return nil, rejectf(ReasonMissing, "the call carries no per-call token (params._meta[%q])", MetaKey)
	}
	return v.Verify(ctx, token, name, p["arguments"])
}

// Allows checks that the claims are for this call: tool and arguments.
func (c *Claims) Allows(tool string, args json.RawMessage) error {
	if c.Context.Tool != tool {
		return rejectf(ReasonTool, "the token is for tool %q, not %q", c.Context.Tool, tool)
	}
	digest, err := InputSHA256(args)
	if err != nil {
		return rejectf(ReasonInput, "%v", err)
	}
	if digest != c.Context.InputSHA256 {
		return rejectf(ReasonInput, "the token is for other arguments (input_sha256 %s, the call's is %s)", c.Context.InputSHA256, digest)
	}
	return nil
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Parse checks a token's signature, type, issuer, audience, times and
// required claims, and returns its claims. It neither checks the call nor
// uses the token up: Verify does all of it.
func (v *Verifier) Parse(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, rejectf(ReasonMissing, "no token")
	}
	if len(token) > MaxTokenBytes {
		return nil, rejectf(ReasonMalformed, "the token is longer than %d bytes", MaxTokenBytes)
	}
	// One token, one spelling: Go's base64 decoders would also take
	// newlines and non-zero padding bits.
	if err := compact.Check(token); err != nil {
		return nil, rejectf(ReasonMalformed, "the token is not a compact JWS in canonical base64url: %v", err)
	}
	tok, err := jwt.ParseSigned(token, algorithms)
	if err != nil {
		if strings.Contains(err.Error(), "unexpected signature algorithm") {
			return nil, rejectf(ReasonAlgorithm, "the token is not signed with EdDSA or ES256")
		}
		return nil, rejectf(ReasonMalformed, "the token is not a compact JWS: %v", err)
	}
	if len(tok.Headers) != 1 {
		return nil, rejectf(ReasonMalformed, "the token has %d signatures, not one", len(tok.Headers))
	}
	h := tok.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(strings.TrimPrefix(strings.ToLower(typ), "application/"), Type) {
		return nil, rejectf(ReasonType, "the token's type is %q, not %q: it is not a per-call token", typ, Type)
	}
	if h.KeyID == "" {
		return nil, rejectf(ReasonUnknownKey, "the token names no key (kid)")
	}
	key, err := v.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != h.Algorithm {
		return nil, rejectf(ReasonAlgorithm, "the token says algorithm %q but key %s is for %s", h.Algorithm, h.KeyID, key.Algorithm)
	}
	var c Claims
	if err := tok.Claims(key.Key, &c); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, rejectf(ReasonSignature, "the signature does not verify with key %s: the token was altered or not signed by toolgate", h.KeyID)
		}
		return nil, rejectf(ReasonClaims, "the token's claims cannot be read: %v", err)
	}
	if err := v.checkClaims(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (v *Verifier) checkClaims(c *Claims) error {
	if c.Issuer != v.o.Issuer {
		return rejectf(ReasonIssuer, "the token's issuer is %q, not %q", c.Issuer, v.o.Issuer)
	}
	if !c.Audience.Contains(v.o.Audience) {
		return rejectf(ReasonAudience, "the token is for %q, not for this server (%q)", []string(c.Audience), v.o.Audience)
	}
	now := v.o.Now()
	if c.Expiry == nil {
		return rejectf(ReasonClaims, "the token has no expiry (exp)")
	}
	if exp := c.Expiry.Time(); !now.Before(exp.Add(v.leeway)) {
		return rejectf(ReasonExpired, "the token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if c.IssuedAt == nil {
		return rejectf(ReasonClaims, "the token has no issue time (iat)")
	}
	if iat := c.IssuedAt.Time(); now.Add(v.leeway).Before(iat) {
		return rejectf(ReasonNotYetValid, "the token was issued in the future (%s)", iat.UTC().Format(time.RFC3339))
	}
	for _, req := range []struct{ name, v string }{
		{"jti", c.ID}, {"txn", c.Txn}, {"sub", c.Subject}, {"scope", c.Scope}, {"tctx.tool", c.Context.Tool},
	} {
		if req.v == "" {
			return rejectf(ReasonClaims, "the token has no %s", req.name)
		}
	}
	if !hexDigest.MatchString(c.Context.InputSHA256) {
		return rejectf(ReasonClaims, "the token's tctx.input_sha256 is not a hex SHA-256")
	}
	return nil
}

// keySource reports what the verifier knows of a key id, and when a fetch
// of toolgate's JWKS is needed, starts one (or joins the one in flight).
//
// Nothing waits behind a fetch while holding a lock, and what a call waits
// for depends on its own token only:
//   - a known key within the refresh interval answers at once;
//   - a known key past it but within one more interval answers at once and
//     refreshes the set in the background (one fetch, shared);
//   - an unknown key id makes the verifier fetch at once, at most every
//     refetchEvery (toolgate may have rotated its key a moment ago): the one
//     call that starts the fetch waits for it, every other unknown key id in
//     the meantime is answered unknown_key at once, so forged key ids cannot
//     flood toolgate nor hold up anyone else;
//   - with no usable keys at all (first use, or toolgate unreachable for
//     longer than one more refresh interval) a call joins the fetch in
//     flight or starts one when due, and otherwise fails closed at once.
func (v *Verifier) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	if v.o.KeySet != nil {
		if k, ok := v.keys[kid]; ok {
			return k, nil
		}
		return jose.JSONWebKey{}, rejectf(ReasonUnknownKey, "the token is signed with key %q, which is not in the key set", kid)
	}
	v.mu.Lock()
	now := v.o.Now()
	k, known := v.keys[kid]
	age := now.Sub(v.fetched)
	usable := v.keys != nil && age < 2*v.o.JWKSRefresh
	due := v.flight == nil && now.Sub(v.tried) >= refetchEvery
	var f *fetchFlight
	switch {
	case known && age < v.o.JWKSRefresh:
		v.mu.Unlock()
		return k, nil
	case known && usable:
		if due {
			v.startFetch(now)
		}
		v.mu.Unlock()
		return k, nil
	case usable && !due:
		v.mu.Unlock()
		return jose.JSONWebKey{}, v.unknown(kid)
	case due: // an unknown kid, or no usable keys: fetch now and wait
		f = v.startFetch(now)
	case v.flight != nil:
		f = v.flight
	default:
		err := v.lastErr
		v.mu.Unlock()
		return jose.JSONWebKey{}, v.unavailable(err)
	}
	v.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return jose.JSONWebKey{}, rejectf(ReasonKeysUnavailable, "gave up waiting for toolgate's keys: %v", ctx.Err())
	}
	v.mu.Lock()
	k, known = v.keys[kid]
	usable = v.keys != nil && v.o.Now().Sub(v.fetched) < 2*v.o.JWKSRefresh
	v.mu.Unlock()
	switch {
	case known && usable:
		return k, nil
	case !usable:
		return jose.JSONWebKey{}, v.unavailable(f.err)
	default:
		return jose.JSONWebKey{}, v.unknown(kid)
	}
}

func (v *Verifier) unknown(kid string) error {
	return rejectf(ReasonUnknownKey, "the token is signed with key %q, which toolgate does not publish (never, or retired long enough ago that its tokens have expired)", kid)
}

func (v *Verifier) unavailable(err error) error {
	if err == nil {
		return rejectf(ReasonKeysUnavailable, "toolgate's keys could not be fetched from %s", v.o.JWKSURL)
	}
	return rejectf(ReasonKeysUnavailable, "toolgate's keys cannot be fetched from %s: %v", v.o.JWKSURL, err)
}

// fetchFlight is one fetch of the JWKS, shared by every call that waits
// for it; done is closed when the verifier's keys have been updated.
type fetchFlight struct {
	done chan struct{}
	err  error
}

// startFetch starts a fetch in the background; v.mu must be held. The fetch
// is not bound to the context of the call that started it: other calls
// wait for it too, and a cancelled caller must not fail them.
func (v *Verifier) startFetch(now time.Time) *fetchFlight {
	f := &fetchFlight{done: make(chan struct{})}
	v.flight, v.tried = f, now
	go func() {
		keys, err := v.fetch(context.Background())
		v.mu.Lock()
		if err == nil {
			v.keys, v.fetched = keys, v.o.Now()
		}
		f.err, v.lastErr, v.flight = err, err, nil
		v.mu.Unlock()
		close(f.done)
	}()
	return f
}

func (v *Verifier) fetch(ctx context.Context) (map[string]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.o.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.o.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("the JWKS is larger than 1 MiB")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("the JWKS is not valid: %w", err)
	}
	return usableKeys(&set), nil
}

// usableKeys keeps the public signing keys of the algorithms toolgate uses,
// each only with the algorithm its type allows.
func usableKeys(set *jose.JSONWebKeySet) map[string]jose.JSONWebKey {
	out := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		if k.KeyID == "" || (k.Use != "" && k.Use != "sig") || !k.IsPublic() {
			continue
		}
		var alg jose.SignatureAlgorithm
		switch pk := k.Key.(type) {
		case ed25519.PublicKey:
			alg = jose.EdDSA
		case *ecdsa.PublicKey:
			if pk.Curve != elliptic.P256() {
				continue
			}
			alg = jose.ES256
		default:
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			continue
		}
		k.Algorithm = string(alg)
		out[k.KeyID] = k
	}
	return out
}
