package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/redirect"
)

// Stable codes of identity failures (the reason's code in a deny).
const (
	CodeMissing         = "identity.missing"
	CodeMalformed       = "identity.malformed"
	CodeWrongType       = "identity.wrong_token_type"
	CodeUnknownIssuer   = "identity.unknown_issuer"
	CodeAlgorithm       = "identity.algorithm"
	CodeUnknownKey      = "identity.unknown_key"
	CodeJWKSUnavailable = "identity.jwks_unavailable"
	CodeSignature       = "identity.signature"
	CodeAudience        = "identity.audience"
	CodeIssuer          = "identity.issuer"
	CodeExpired         = "identity.expired"
	CodeNotYetValid     = "identity.not_yet_valid"
	CodeClaims          = "identity.claims"
	CodeAPIKey          = "identity.invalid_api_key"
)

func errorf(code, format string, args ...any) error { return call.Errorf(code, format, args...) }

// toolgateTypes are the "typ" of tokens toolgate signs itself: never an
// identity, whoever presents them.
var toolgateTypes = []string{"toolgate-task+jwt", "txntoken+jwt"}

// maxActDepth bounds the nesting of "act" claims read from a token.
const maxActDepth = 16

// Identity is a verified caller.
type Identity struct {
	Principal call.Principal
	// Chain is the delegation chain from an RFC 8693 "act" claim,
	// outermost (current) actor first; nil without one.
	Chain []string
	// Issuer is the provider that vouched for the caller ("" for API keys).
	Issuer string
	// Expiry is when the credential stops being valid (zero for API keys).
	Expiry time.Time
}

// Options tune New.
type Options struct {
	// HTTPClient fetches discovery documents and JWKS (default: a client
	// with a 10s timeout). It follows redirects only within the origin of
	// the URL asked for.
	HTTPClient *http.Client
	// Now is the clock (tests).
	Now func() time.Time
	// MinRefetch overrides DefaultMinRefetch (tests).
	MinRefetch time.Duration
}

// Verifier verifies identity credentials.
type Verifier struct {
	issuers map[string]*issuer
	apiKeys map[string]call.Principal // by "sha256:<hex>"
	now     func() time.Time

	// verified remembers tokens whose signature and claims were checked,
	// by the raw token: an HTTP request is authenticated by the gateway
	// and its tool call again by the identify stage, and a session sends
	// the same token with every call. An entry is used only while the key
	// that signed the token is still the issuer's (so a rotated-out key
	// ends it, as for a new token) and never past the token's expiry.
	mu       sync.Mutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	id    *Identity
	is    *issuer
	kid   string
	until time.Time
}

// Bounds of the verified-token cache.
const (
	verifiedTTL  = time.Minute
	verifiedSize = 4096
)

type issuer struct {
	cfg  IssuerConfig
	algs []jose.SignatureAlgorithm
	keys *keySet
}

// New builds a verifier. cfg must have had ApplyDefaults and Validate.
func New(cfg Config, opt Options) (*Verifier, error) {
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("identity: %s", strings.Join(errs, "; "))
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	opt.HTTPClient = redirect.Client(opt.HTTPClient, redirect.SameOrigin)
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MinRefetch == 0 {
		opt.MinRefetch = DefaultMinRefetch
	}
	v := &Verifier{issuers: map[string]*issuer{}, apiKeys: map[string]call.Principal{}, now: opt.Now, verified: map[string]verifiedToken{}}
	for i := range cfg.Issuers {
		ic := cfg.Issuers[i]
		is := &issuer{cfg: ic, algs: ic.algorithms()}
		is.keys = &keySet{cfg: &is.cfg, client: opt.HTTPClient, now: opt.Now, minRefetch: opt.MinRefetch}
		v.issuers[ic.Issuer] = is
	}
	for _, k := range cfg.APIKeys {
		v.apiKeys[k.Hash] = call.Principal{
			Kind: call.PrincipalKind(k.Kind), ID: k.ID, Groups: slices.Clone(k.Groups),
			Owner: k.Owner, Claims: maps.Clone(k.Claims),
		}
	}
	return v, nil
}

// Enabled reports whether any credential can verify at all.
func (v *Verifier) Enabled() bool { return len(v.issuers) > 0 || len(v.apiKeys) > 0 }

// HashAPIKey returns the config form of an API key's hash.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Verify checks a raw credential: an API key (tgk_…) or a JWT.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errorf(CodeMissing, "no identity credential was presented")
	}
	if strings.HasPrefix(raw, APIKeyPrefix) {
		// The stored value is a hash of a high-entropy random key, so a
		// plain SHA-256 and a map lookup are enough: the lookup's timing
		// tells nothing about any key.
		p, ok := v.apiKeys[HashAPIKey(raw)]
		if !ok {
			return nil, errorf(CodeAPIKey, "the API key is not known")
		}
		p.Groups = slices.Clone(p.Groups)
		p.Claims = maps.Clone(p.Claims)
		return &Identity{Principal: p}, nil
	}
	return v.verifyJWT(ctx, raw)
}

func (v *Verifier) verifyJWT(ctx context.Context, raw string) (*Identity, error) {
	alg, typ, kid, err := keys.ParseHeader(raw)
	if err != nil {
		return nil, errorf(CodeMalformed, "the identity token is not a JWT: %v", err)
	}
	for _, t := range toolgateTypes {
		if strings.EqualFold(typ, t) {
			return nil, errorf(CodeWrongType, "the credential is a toolgate %q token, not an identity token", typ)
		}
	}
	// The issuer picks the keys, so it is read before the signature is
	// checked; nothing else of the unverified payload is used.
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return nil, err
	}
	is, ok := v.issuers[iss]
	if !ok {
		return nil, errorf(CodeUnknownIssuer, "the identity token's issuer %q is not trusted", iss)
	}
	if !slices.Contains(is.algs, jose.SignatureAlgorithm(alg)) {
		return nil, errorf(CodeAlgorithm, "the identity token is signed with algorithm %q, which is not allowed for issuer %q (allowed: %s)",
			alg, iss, strings.Join(is.cfg.Algorithms, ", "))
	}
	key, err := is.keys.key(ctx, kid, jose.SignatureAlgorithm(alg))
	if err != nil {
		return nil, err
	}
	if id, ok := v.remembered(raw, is, key.KeyID); ok {
		return id, nil
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return nil, errorf(CodeMalformed, "the identity token cannot be parsed: %v", err)
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(key.Key, &std, &all); err != nil {
		var ue *json.UnmarshalTypeError
		if errors.As(err, &ue) || errors.Is(err, jwt.ErrUnmarshalAudience) || errors.Is(err, jwt.ErrUnmarshalNumericDate) {
			return nil, errorf(CodeClaims, "the identity token's claims are not valid: %v", err)
		}
		return nil, errorf(CodeSignature, "the identity token's signature does not verify with key %q of issuer %q", key.KeyID, iss)
	}
	if std.Expiry == nil {
		return nil, errorf(CodeClaims, "the identity token has no expiry (exp)")
	}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: is.cfg.Issuer, AnyAudience: is.cfg.Audience, Time: v.now()}, is.cfg.ClockSkew)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrExpired):
		return nil, errorf(CodeExpired, "the identity token expired at %s", std.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, errorf(CodeNotYetValid, "the identity token is not valid yet")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, errorf(CodeAudience, "the identity token is for audience %q, not for toolgate (%s)", []string(std.Audience), strings.Join(is.cfg.Audience, ", "))
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, errorf(CodeIssuer, "the identity token's issuer %q is not %q", std.Issuer, is.cfg.Issuer)
	default:
		return nil, errorf(CodeClaims, "the identity token's claims are not valid: %v", err)
	}
	id, err := is.mapClaims(all)
	if err != nil {
		return nil, err
	}
	id.Issuer = iss
	id.Expiry = std.Expiry.Time()
	v.remember(raw, is, key.KeyID, id)
	return cloneIdentity(id), nil
}

// remembered returns the identity of a token verified before with the same
// issuer and key, while it is still valid.
func (v *Verifier) remembered(raw string, is *issuer, kid string) (*Identity, bool) {
	v.mu.Lock()
	e, ok := v.verified[raw]
	v.mu.Unlock()
	if !ok || e.is != is || e.kid != kid || !v.now().Before(e.until) {
		return nil, false
	}
	return cloneIdentity(e.id), true
}

func (v *Verifier) remember(raw string, is *issuer, kid string, id *Identity) {
	until := v.now().Add(verifiedTTL)
	if id.Expiry.Before(until) {
		until = id.Expiry
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.verified) >= verifiedSize {
		v.verified = map[string]verifiedToken{}
	}
	v.verified[raw] = verifiedToken{id: cloneIdentity(id), is: is, kid: kid, until: until}
}

// cloneIdentity copies what a caller may change (the principal's groups and
// claims, the chain), so that no two calls share them.
func cloneIdentity(id *Identity) *Identity {
	c := *id
	c.Principal.Groups = slices.Clone(id.Principal.Groups)
	c.Principal.Claims = maps.Clone(id.Principal.Claims)
	c.Chain = slices.Clone(id.Chain)
	return &c
}

func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errorf(CodeMalformed, "the identity token's payload is not base64url")
	}
	var p struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return "", errorf(CodeMalformed, "the identity token's payload is not a JSON object with a string iss")
	}
	if p.Issuer == "" {
		return "", errorf(CodeMalformed, "the identity token names no issuer (iss)")
	}
	return p.Issuer, nil
}

// registered claims never become tags: they describe the token, not the
// caller.
var registered = map[string]bool{"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true, "act": true}

// mapClaims turns verified claims into the principal, per the issuer's
// mapping.
func (is *issuer) mapClaims(all map[string]any) (*Identity, error) {
	c := &is.cfg
	sub, _ := all["sub"].(string)
	id, _ := lookup(all, c.IDClaim).(string)
	if id == "" {
		return nil, errorf(CodeClaims, "the identity token has no string claim %q for the principal's id", c.IDClaim)
	}
	p := call.Principal{ID: c.IDPrefix + id}
	switch c.Kind {
	case "agent":
		p.Kind = call.KindAgent
	case "user":
		p.Kind = call.KindUser
	default:
		p.Kind = call.KindAgent
		if showsHuman(all) {
			p.Kind = call.KindUser
		}
	}
	p.Groups = stringsOf(lookup(all, c.GroupsClaim))
	if c.OwnerClaim != "" {
		if s, ok := lookup(all, c.OwnerClaim).(string); ok {
			p.Owner = c.IDPrefix + s
		}
	}
	if len(c.Tags) > 0 {
		p.Claims = map[string]any{}
		for tag, path := range c.Tags {
			if v := lookup(all, path); v != nil {
				p.Claims[tag] = v
			}
		}
	} else {
		for k, v := range all {
			if registered[k] || v == nil {
				continue
			}
			if p.Claims == nil {
				p.Claims = map[string]any{}
			}
			p.Claims[k] = v
		}
	}
	ident := &Identity{Principal: p}

	// RFC 8693 delegation: the token's subject is who the caller acts for,
	// the outermost act.sub is the caller, nested acts are earlier actors.
	if act, ok := all["act"].(map[string]any); ok {
		chain, err := actChain(act, c.IDPrefix)
		if err != nil {
			return nil, err
		}
		if p.Owner == "" && sub != "" {
			ident.Principal.Owner = c.IDPrefix + sub
		}
		ident.Principal.ID = chain[0]
		ident.Principal.Kind = call.KindAgent
		ident.Chain = chain
	}
	return ident, nil
}

// humanClaims are claims that only a token issued to a person carries: a
// login session (sid, session_state: Keycloak and other OIDC providers),
// the time and methods of a person's authentication (auth_time, amr), an
// OIDC login's nonce, Okta's user id (uid).
var humanClaims = []string{"sid", "session_state", "auth_time", "amr", "nonce", "uid"}

// showsHuman tells, for kind auto, whether a token was issued to a person.
// Anything else is an Agent: a service account's token (client
// credentials) often has a subject other than its client id (Entra ID's
// service principal, Keycloak's service-account user), so only positive
// evidence of a person makes a User — a User's arguments count as trusted
// and a User may answer approvals.
func showsHuman(all map[string]any) bool {
	// Entra ID says it outright when asked to (the idtyp optional claim).
	switch all["idtyp"] {
	case "app", "device":
		return false
	case "user":
		return true
	}
	for _, k := range humanClaims {
		if v, ok := all[k]; ok && v != nil && v != "" {
			return true
		}
	}
	// Entra ID (tid): delegated permissions (scp) exist only in a token
	// issued for a signed-in user; an application's token has roles only.
	if _, entra := all["tid"].(string); entra {
		if s, _ := all["scp"].(string); s != "" {
			return true
		}
	}
	return false
}

func actChain(act map[string]any, prefix string) ([]string, error) {
	var chain []string
	for cur := act; cur != nil; {
		if len(chain) == maxActDepth {
			return nil, errorf(CodeClaims, "the identity token's act claim is nested deeper than %d", maxActDepth)
		}
		s, _ := cur["sub"].(string)
		if s == "" {
			return nil, errorf(CodeClaims, "an act claim of the identity token has no string sub")
		}
		chain = append(chain, prefix+s)
		next, ok := cur["act"]
		if !ok {
			break
		}
		if cur, ok = next.(map[string]any); !ok {
			return nil, errorf(CodeClaims, "a nested act claim of the identity token is not an object")
		}
	}
	return chain, nil
}

// lookup follows a dotted path through JSON objects.
func lookup(m map[string]any, path string) any {
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[part]
	}
	return cur
}

// stringsOf reads a groups-like claim: an array of strings, or one string of
// space-separated values (as OAuth's scope).
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
