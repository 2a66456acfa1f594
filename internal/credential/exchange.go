package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/tokenexchange"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/sync/singleflight"

	"github.com/toolgate/toolgate/internal/call"
)

// ActorTokenType is the JOSE "typ" of the actor token toolgate signs for a
// token exchange: it names the agent that makes the call.
const ActorTokenType = "toolgate-actor+jwt"

// actorTTL is the lifetime of an actor token: it is used at once.
const actorTTL = 60 * time.Second

// exchanger gets access tokens for one server from the user's IdP by RFC
// 8693 token exchange: the caller's identity token is the subject (it
// names the human), an actor token signed by toolgate names the agent, and
// the scope is the one the configuration maps to the tool. A token is
// reused only for the same user, agent (and delegation chain), audience
// and scope, and only while it is valid.
type exchanger struct {
	cfg      *ExchangeConfig
	audience string
	m        *Minter

	mu       sync.Mutex
	endpoint string // the token endpoint, once discovered
	cache    map[string]exchanged
	flight   singleflight.Group
}

type exchanged struct {
	token string
	until time.Time // when it stops being handed out (before it expires)
}

func newExchanger(cfg *ExchangeConfig, serverAudience string, m *Minter) *exchanger {
	e := &exchanger{cfg: cfg, audience: cfg.Audience, m: m, endpoint: cfg.TokenEndpoint, cache: map[string]exchanged{}}
	if e.audience == "" {
		e.audience = serverAudience
	}
	return e
}

// scopes are the scopes asked for a call to tool.
func (e *exchanger) scopes(tool string) []string {
	if s, ok := e.cfg.Scopes[tool]; ok {
		return s
	}
	return e.cfg.Scopes["*"]
}

// token returns an access token for the call.
func (e *exchanger) token(ctx context.Context, c *call.Call) (string, error) {
	// Only a JWT that the identify stage verified as coming from a
	// configured identity provider is sent: never an API key (it would
	// hand toolgate's own credential to the IdP), never a token nobody
	// checked.
	if c.IdentityToken == "" || c.IdentityIssuer == "" {
		return "", call.Errorf(CodeIdentityTokenRequired, "token exchange for server %q needs the caller's identity token from a configured identity provider, which names the human; the call presents none (an API key never leaves toolgate; calls through `toolgate run` or the AuthZEN API have no token)", c.Server.Name)
	}
	scopes := e.scopes(c.Tool.Name)
	if len(scopes) == 0 {
		return "", fmt.Errorf("no scope is configured for tool %q (exchange.scopes), so no token narrowed to it can be asked for", c.Tool.Name)
	}
	scopes = slices.Clone(scopes)
	slices.Sort(scopes)
	// The cache key is exactly what the token is for: who (user, agent and
	// chain), where (audience) and what (scope).
	keyParts, _ := json.Marshal([]any{string(c.Principal.Kind), c.Principal.ID, c.Principal.Owner, c.Chain, e.audience, scopes})
	key := string(keyParts)
	now := e.m.o.Now()
	e.mu.Lock()
	hit, ok := e.cache[key]
	e.mu.Unlock()
	if ok && now.Before(hit.until) {
		return hit.token, nil
	}
	// Calls side by side for the same key share one exchange.
	v, err, _ := e.flight.Do(key, func() (any, error) {
		tok, until, err := e.exchange(ctx, c, scopes)
		if err != nil {
			return "", err
		}
		e.mu.Lock()
		for k, x := range e.cache { // drop what has expired
			if !now.Before(x.until) {
				delete(e.cache, k)
			}
		}
		if !until.IsZero() {
			e.cache[key] = exchanged{token: tok, until: until}
		}
		e.mu.Unlock()
		return tok, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// exchange asks the IdP. until is when the token stops being reused (zero:
// not at all, its lifetime being unknown).
func (e *exchanger) exchange(ctx context.Context, c *call.Call, scopes []string) (string, time.Time, error) {
	endpoint, err := e.tokenEndpoint(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	secret, err := e.m.secrets.Resolve(ctx, e.cfg.ClientSecret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("the client secret (%s) cannot be read: %v", e.cfg.ClientSecret, err)
	}
	issuer := e.cfg.Issuer
	if issuer == "" {
		issuer = endpoint
	}
	te, err := tokenexchange.NewTokenExchangerClientCredentials(ctx, issuer, e.cfg.ClientID, secret,
		tokenexchange.WithStaticTokenEndpoint(issuer, endpoint), tokenexchange.WithHTTPClient(e.m.o.HTTPClient))
	if err != nil {
		return "", time.Time{}, err
	}
	var actor string
	var actorType oidc.TokenType
	if e.cfg.Actor == ActorToolgate && c.Principal.Kind != call.KindUser {
		if actor, err = e.actorToken(ctx, c, issuer); err != nil {
			return "", time.Time{}, err
		}
		actorType = oidc.JWTTokenType
	}
	var resource []string
	if e.cfg.Resource != "" {
		resource = []string{e.cfg.Resource}
	}
	start := e.m.o.Now()
	resp, err := tokenexchange.ExchangeToken(ctx, te, c.IdentityToken, oidc.TokenType(subjectTokenTypes[e.cfg.SubjectTokenType]),
		actor, actorType, resource, []string{e.audience}, scopes, oidc.AccessTokenType)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("the IdP refused the token exchange: %v", err)
	}
	if resp.AccessToken == "" {
		return "", time.Time{}, errors.New("the IdP answered the token exchange without a token")
	}
	if resp.TokenType != "" && !strings.EqualFold(resp.TokenType, oidc.BearerToken) {
		return "", time.Time{}, fmt.Errorf("the IdP issued a %q token, not a Bearer access token", resp.TokenType)
	}
	if resp.IssuedTokenType != "" && resp.IssuedTokenType != oidc.AccessTokenType {
		return "", time.Time{}, fmt.Errorf("the IdP issued a token of type %q, not an access token", resp.IssuedTokenType)
	}
	var until time.Time
	expires := time.Now().Add(time.Hour) // unknown lifetime: masked for an hour
	if resp.ExpiresIn > 0 {
		life := time.Duration(resp.ExpiresIn) * time.Second
		// Hand it out only while it has a tenth of its life (at most 30 s)
		// left, so a call never carries a token that expires on the way.
		until = start.Add(life - min(life/10, 30*time.Second))
		expires = time.Now().Add(life)
	}
	// Masked in what servers send back while it is valid (stdio servers
	// get it in _meta; HTTP responses are also cleaned per call).
	e.m.secrets.Scrub.AddUntil(resp.AccessToken, expires)
	return resp.AccessToken, until, nil
}

// tokenEndpoint is the configured endpoint, else the one the issuer's
// discovery document names (fetched once, retried on the next call if it
// fails).
func (e *exchanger) tokenEndpoint(ctx context.Context) (string, error) {
	e.mu.Lock()
	ep := e.endpoint
	e.mu.Unlock()
	if ep != "" {
		return ep, nil
	}
	d, err := client.Discover(ctx, e.cfg.Issuer, e.m.o.HTTPClient)
	if err != nil {
		return "", fmt.Errorf("the IdP's discovery document cannot be read: %v", err)
	}
	if d.TokenEndpoint == "" {
		return "", errors.New("the IdP's discovery document names no token endpoint")
	}
	e.mu.Lock()
	e.endpoint = d.TokenEndpoint
	e.mu.Unlock()
	return d.TokenEndpoint, nil
}

// actorClaims are the claims of an actor token: the calling agent, the
// rest of its delegation chain as RFC 8693 "act" nesting.
type actorClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	Expiry   *jwt.NumericDate `json:"exp"`
	ID       string           `json:"jti"`
	Act      *actClaim        `json:"act,omitempty"`
}

type actClaim struct {
	Subject string    `json:"sub"`
	Act     *actClaim `json:"act,omitempty"`
}

// actorToken signs a short-lived JWT naming the agent for the IdP.
func (e *exchanger) actorToken(ctx context.Context, c *call.Call, audience string) (string, error) {
	now := e.m.o.Now()
	cl := actorClaims{
		Issuer: e.m.o.Issuer, Subject: c.Principal.ID, Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(actorTTL)), ID: newID(),
	}
	// The chain is outermost (current) actor first; the earlier agents nest.
	chain := c.Chain
	if len(chain) > 0 && chain[0] == c.Principal.ID {
		chain = chain[1:]
	}
	var act *actClaim
	for i := len(chain) - 1; i >= 0; i-- {
		act = &actClaim{Subject: chain[i], Act: act}
	}
	cl.Act = act
	payload, err := json.Marshal(cl)
	if err != nil {
		return "", err
	}
	return e.m.sign(ctx, ActorTokenType, payload)
}
