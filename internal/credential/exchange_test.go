package credential_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/credential"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/identity/idptest"
	"github.com/toolgate/toolgate/internal/keys"
)

// The exchange provider is tested against the OP of github.com/zitadel/oidc
// (its op package and the in-memory storage of its example server), served
// on loopback: toolgate sends a real RFC 8693 request to the OP's token
// endpoint (found by discovery), the OP verifies the subject token (one of
// its own access tokens) and the client's credentials itself, and issues a
// JWT access token that the test verifies with the OP's JWKS.
//
// What this cannot cover, and where the test's OP storage decides instead of
// a real IdP's policy:
//   - the user's token: no person can log in here, so alice's access token
//     is obtained by client credentials with the storage setting its subject
//     to "alice" (in production it comes from the user's login);
//   - trust in toolgate's actor token: zitadel verifies only tokens it
//     issued, so the storage verifies the actor token against toolgate's
//     JWKS (go-jose), as an IdP configured to trust toolgate would;
//   - the "act" claim of the issued token: the example storage has
//     delegation's act claim commented out, so the storage adds it;
//   - vendor specifics of Okta, Entra ID, Keycloak or CyberArk exchanges
//     (their scope and audience policies, subject token types other than
//     access tokens).

// opClient is a confidential client of the test OP. Subject, if set, is the
// subject of its client-credentials tokens (a user's session, see above).
type opClient struct {
	ID, Secret, Subject string
}

// exchangeClient is how the OP sees a client: it may use client
// credentials and token exchange.
func exchangeClient(id string) op.Client {
	return &idptest.OPClient{ID: id, Grants: []oidc.GrantType{oidc.GrantTypeClientCredentials, oidc.GrantTypeTokenExchange}}
}

type exchangeOP struct {
	issuer string
	store  *opStore
}

type opStore struct {
	*storage.Storage
	issuer      string
	now         func() time.Time
	clients     map[string]*opClient
	key         *idptest.SigningKey
	toolgateKey func() jose.JSONWebKeySet

	mu        sync.Mutex
	exchanges []exchangeSeen
}

// exchangeSeen is what the OP saw of one token exchange.
type exchangeSeen struct {
	Client, Subject, Actor string
	Scopes, Audience       []string
	Requested              oidc.TokenType
}

// startExchangeOP starts the OP; now is the clock its check of toolgate's
// actor tokens uses (the test's, which also drives toolgate's).
func startExchangeOP(t *testing.T, toolgateKeys keys.Provider, now func() time.Time, clients ...opClient) *exchangeOP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + "/"
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	st := &opStore{
		Storage: storage.NewStorage(storage.NewUserStore(issuer)),
		issuer:  issuer,
		now:     now,
		clients: map[string]*opClient{},
		key:     idptest.NewSigningKey("op-key", k),
		toolgateKey: func() jose.JSONWebKeySet {
			set, _ := keys.JWKS(context.Background(), toolgateKeys)
			return set
		},
	}
	for i := range clients {
		st.clients[clients[i].ID] = &clients[i]
	}
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte("exchange-test")), AuthMethodPost: true},
		st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(provider)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &exchangeOP{issuer: issuer, store: st}
}

// token gets a client-credentials access token from the OP's endpoint.
func (o *exchangeOP) token(t *testing.T, client, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {string(oidc.GrantTypeClientCredentials)}, "scope": {"openid"}}
	req, _ := http.NewRequest(http.MethodPost, o.issuer+"oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token for %s: %s %v", client, resp.Status, err)
	}
	return body.AccessToken
}

// verify checks a token the OP issued with the OP's JWKS.
func (o *exchangeOP) verify(t *testing.T, tok string) map[string]any {
	t.Helper()
	resp, err := http.Get(o.issuer + "keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("the exchanged token is not a JWT: %v", err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) == 0 {
		t.Fatal("the exchanged token's key is not in the OP's JWKS")
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("the exchanged token does not verify: %v", err)
	}
	return claims
}

func (o *exchangeOP) seen() []exchangeSeen {
	o.store.mu.Lock()
	defer o.store.mu.Unlock()
	return slices.Clone(o.store.exchanges)
}

func (s *opStore) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }
func (s *opStore) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}
func (s *opStore) KeySet(context.Context) ([]op.Key, error) { return []op.Key{s.key.Public()}, nil }

func (s *opStore) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if c, ok := s.clients[id]; ok {
		return exchangeClient(c.ID), nil
	}
	return nil, errors.New("unknown client")
}

func (s *opStore) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if c, ok := s.clients[id]; ok && c.Secret == secret {
		return nil
	}
	return errors.New("wrong client id or secret")
}

func (s *opStore) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	return exchangeClient(id), nil
}

func (s *opStore) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c := s.clients[id]
	sub := c.ID
	if c.Subject != "" {
		sub = c.Subject
	}
	return &oidc.JWTTokenRequest{Subject: sub, Audience: []string{"toolgate"}, Scopes: scopes}, nil
}

func (s *opStore) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// ValidateTokenExchangeRequest is the IdP's exchange policy: delegation only
// (an actor is required; impersonation is refused), scopes as asked.
func (s *opStore) ValidateTokenExchangeRequest(_ context.Context, r op.TokenExchangeRequest) error {
	s.mu.Lock()
	s.exchanges = append(s.exchanges, exchangeSeen{
		Client: r.GetClientID(), Subject: r.GetExchangeSubject(), Actor: r.GetExchangeActor(),
		Scopes: r.GetScopes(), Audience: r.GetAudience(), Requested: r.GetRequestedTokenType(),
	})
	s.mu.Unlock()
	if r.GetExchangeActor() == "" {
		return oidc.ErrInvalidRequest().WithDescription("impersonation is not allowed: name the actor")
	}
	r.SetCurrentScopes(r.GetScopes())
	return nil
}

func (s *opStore) CreateTokenExchangeRequest(context.Context, op.TokenExchangeRequest) error {
	return nil
}

// GetPrivateClaimsFromTokenExchangeRequest puts the actor in the issued
// token, as RFC 8693 delegation asks, and the scope.
func (s *opStore) GetPrivateClaimsFromTokenExchangeRequest(_ context.Context, r op.TokenExchangeRequest) (map[string]any, error) {
	claims := map[string]any{"scope": strings.Join(r.GetScopes(), " ")}
	if a := r.GetExchangeActor(); a != "" {
		act := map[string]any{"sub": a}
		if inner, ok := r.GetExchangeActorTokenClaims()["act"]; ok {
			act["act"] = inner
		}
		claims["act"] = act
	}
	return claims, nil
}

// VerifyExchangeSubjectToken: only the OP's own tokens are subjects.
func (s *opStore) VerifyExchangeSubjectToken(context.Context, string, oidc.TokenType) (string, string, map[string]any, error) {
	return "", "", nil, errors.New("only this OP's tokens are accepted as subject tokens")
}

// VerifyExchangeActorToken accepts toolgate's actor tokens, checked against
// toolgate's JWKS: the IdP trusts toolgate to name its agents.
func (s *opStore) VerifyExchangeActorToken(_ context.Context, token string, tt oidc.TokenType) (string, string, map[string]any, error) {
	if tt != oidc.JWTTokenType {
		return "", "", nil, errors.New("actor tokens from toolgate are JWTs")
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		return "", "", nil, err
	}
	if typ, _ := parsed.Headers[0].ExtraHeaders[jose.HeaderType].(string); typ != credential.ActorTokenType {
		return "", "", nil, errors.New("not a toolgate actor token")
	}
	set := s.toolgateKey()
	ks := set.Key(parsed.Headers[0].KeyID)
	if len(ks) == 0 {
		return "", "", nil, errors.New("unknown toolgate key")
	}
	var std jwt.Claims
	var all map[string]any
	if err := parsed.Claims(ks[0].Key, &std, &all); err != nil {
		return "", "", nil, err
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: "toolgate", AnyAudience: jwt.Audience{s.issuer}, Time: s.now()}, time.Minute); err != nil {
		return "", "", nil, err
	}
	return std.ID, std.Subject, all, nil
}

func TestExchangeAgainstZitadelOP(t *testing.T) {
	clk := newClock()
	kp, err := keys.OpenFile(t.TempDir(), keys.Config{}, keys.FileOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	o := startExchangeOP(t, kp, clk.Now,
		opClient{ID: "toolgate", Secret: "toolgate-client-secret"},
		opClient{ID: "alice-session", Secret: "alice-session-secret", Subject: "alice"})
	secret := "toolgate-client-secret"
	env := func(name string) (string, bool) {
		if name == "IDP_SECRET" {
			return secret, true
		}
		return "", false
	}
	cfg := credential.Config{Servers: map[string]credential.ServerConfig{"github": {
		Exchange: &credential.ExchangeConfig{
			Issuer: o.issuer, ClientID: "toolgate", ClientSecret: credential.SecretRef{Env: "IDP_SECRET"},
			Audience: "https://api.github.test",
			Scopes:   map[string][]string{"create_issue": {"issues:write"}, "list_issues": {"issues:read"}},
		},
	}}}
	m, err := credential.New(cfg, credential.Options{Keys: kp, Issuer: "toolgate", Now: clk.Now, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	aliceToken := o.token(t, "alice-session", "alice-session-secret")
	ctx := context.Background()
	mint := func(agent, tool string) (*call.Credential, error) {
		c, d := agentCall(tool, `{"title":"x"}`)
		c.Principal.ID, c.Chain = agent, []string{agent, "orchestrator"}
		c.IdentityToken, c.IdentityIssuer = aliceToken, o.issuer
		return m.Mint(ctx, c, d)
	}

	cred, err := mint("researcher", "create_issue")
	if err != nil {
		t.Fatal(err)
	}
	if cred.Token == "" || cred.AccessToken == "" {
		t.Fatalf("credential: token %t, access token %t", cred.Token != "", cred.AccessToken != "")
	}
	// The OP saw a delegation: alice's token as subject, toolgate's actor
	// token naming the agent, the tool's scope, the upstream's audience.
	seen := o.seen()
	want := exchangeSeen{Client: "toolgate", Subject: "alice", Actor: "researcher", Scopes: []string{"issues:write"},
		Audience: []string{"https://api.github.test"}, Requested: oidc.AccessTokenType}
	if len(seen) != 1 || !sameExchange(seen[0], want) {
		t.Fatalf("the OP saw %+v, want %+v", seen, want)
	}
	claims := o.verify(t, cred.AccessToken)
	act, _ := claims["act"].(map[string]any)
	if claims["sub"] != "alice" || claims["scope"] != "issues:write" || act["sub"] != "researcher" ||
		!slices.Contains(audiences(claims["aud"]), "https://api.github.test") {
		t.Fatalf("the exchanged token: %v", claims)
	}
	if inner, _ := act["act"].(map[string]any); inner["sub"] != "orchestrator" {
		t.Errorf("the delegation chain is not in the actor token: %v", act)
	}

	// Cached for the same user, agent, audience and scope only.
	again, err := mint("researcher", "create_issue")
	if err != nil || again.AccessToken != cred.AccessToken || len(o.seen()) != 1 {
		t.Fatalf("same user, agent, audience, scope: new exchange (%d) or new token (%v)", len(o.seen()), err)
	}
	if again.Token == cred.Token || again.ID == cred.ID {
		t.Fatal("the per-call token was reused")
	}
	other, err := mint("researcher", "list_issues")
	if err != nil || other.AccessToken == cred.AccessToken || len(o.seen()) != 2 || o.seen()[1].Scopes[0] != "issues:read" {
		t.Fatalf("another scope must be another exchange: %v %+v", err, o.seen())
	}
	byOther, err := mint("summariser", "create_issue")
	if err != nil || byOther.AccessToken == cred.AccessToken || len(o.seen()) != 3 || o.seen()[2].Actor != "summariser" {
		t.Fatalf("another agent must be another exchange: %v %+v", err, o.seen())
	}
	// Only for its lifetime: the OP's tokens live 5 minutes.
	clk.Add(5 * time.Minute)
	later, err := mint("researcher", "create_issue")
	if err != nil || len(o.seen()) != 4 || later.AccessToken == "" {
		t.Fatalf("after the token's lifetime: %v, %d exchanges", err, len(o.seen()))
	}

	// Failures fail the mint, so the pipeline denies the call.
	codeOf := func(err error) string {
		var c call.Coded
		if errors.As(err, &c) {
			return c.ErrorCode()
		}
		return ""
	}
	if _, err := mint("researcher", "delete_repo"); codeOf(err) != credential.CodeExchange || !strings.Contains(err.Error(), "no scope") {
		t.Errorf("a tool without a scope: %v", err)
	}
	c, d := agentCall("create_issue", `{}`)
	if _, err := m.Mint(ctx, c, d); codeOf(err) != credential.CodeIdentityTokenRequired {
		t.Errorf("no identity token: %v", err)
	}
	secret = "wrong-client-secret"
	m2, err := credential.New(cfg, credential.Options{Keys: kp, Issuer: "toolgate", Now: clk.Now, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	c.IdentityToken, c.IdentityIssuer = aliceToken, o.issuer
	if _, err := m2.Mint(ctx, c, d); codeOf(err) != credential.CodeExchange || !strings.Contains(err.Error(), "refused") {
		t.Errorf("wrong client secret: %v", err)
	}
	// Without an actor token, the OP's policy (no impersonation) refuses.
	secret = "toolgate-client-secret"
	none := cfg
	ex := *cfg.Servers["github"].Exchange
	ex.Actor = credential.ActorNone
	none.Servers = map[string]credential.ServerConfig{"github": {Exchange: &ex}}
	m3, err := credential.New(none, credential.Options{Keys: kp, Issuer: "toolgate", Now: clk.Now, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m3.Mint(ctx, c, d); err == nil || !strings.Contains(err.Error(), "impersonation") {
		t.Errorf("no actor token: %v", err)
	}
}

func sameExchange(a, b exchangeSeen) bool {
	return a.Client == b.Client && a.Subject == b.Subject && a.Actor == b.Actor &&
		slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Audience, b.Audience) && a.Requested == b.Requested
}

func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// recordingIdP is a token endpoint that records every request it gets and
// refuses them all: where toolgate must send nothing, it must record nothing.
func recordingIdP(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Form.Encode())
		mu.Unlock()
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
}

func exchangeMinter(t *testing.T, endpoint string) *credential.Minter {
	kp, err := keys.OpenFile(t.TempDir(), keys.Config{}, keys.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := func(string) (string, bool) { return "toolgate-client-secret", true }
	m, err := credential.New(credential.Config{Servers: map[string]credential.ServerConfig{"github": {
		Exchange: &credential.ExchangeConfig{
			Issuer: "https://idp.test/", TokenEndpoint: endpoint, ClientID: "toolgate",
			ClientSecret: credential.SecretRef{Env: "IDP_SECRET"}, Scopes: map[string][]string{"*": {"issues:write"}},
		},
	}}}, credential.Options{Keys: kp, Issuer: "toolgate", Env: env})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExchangeNeverSendsAPIKeys: a caller authenticated by an API key has
// no identity token for the IdP: its key is not sent as the subject token
// (the IdP receives nothing) and the call is denied with
// credential.identity_token_required. Neither is a token the identify stage
// did not verify as coming from a configured issuer.
func TestExchangeNeverSendsAPIKeys(t *testing.T) {
	idp, received := recordingIdP(t)
	m := exchangeMinter(t, idp.URL+"/token")
	const key = "tgk_0123456789abcdefghijklmnopqrstuvwxyz"
	v, err := identity.New(identity.Config{APIKeys: []identity.APIKeyConfig{{Hash: identity.HashAPIKey(key), ID: "dev-agent", Owner: "alice"}}}, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stage := &identity.Stage{Verifier: v}
	for _, presented := range []string{key, " " + key, key + "\n"} {
		c, d := agentCall("create_issue", `{}`)
		c.IdentityToken = presented
		c.IdentityIssuer = "https://idp.test/" // a front door's claim is not the stage's word
		if err := stage.Identify(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		_, err := m.Mint(context.Background(), c, d)
		var coded call.Coded
		if !errors.As(err, &coded) || coded.ErrorCode() != credential.CodeIdentityTokenRequired {
			t.Fatalf("an API key caller's exchange: %v", err)
		}
	}
	// A call whose token nobody verified (no identify stage ran).
	c, d := agentCall("create_issue", `{}`)
	c.IdentityToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."
	if _, err := m.Mint(context.Background(), c, d); err == nil {
		t.Fatal("an unverified token was exchanged")
	}
	if got := received(); len(got) != 0 {
		t.Fatalf("the IdP received %q", got)
	}
}

// TestExchangeRedirect: a token endpoint that redirects to another origin
// does not get the user's token and toolgate's client secret re-sent there.
func TestExchangeRedirect(t *testing.T) {
	thief, received := recordingIdP(t)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(thief.URL, "127.0.0.1", "localhost", 1)+"/token", http.StatusTemporaryRedirect)
	}))
	defer idp.Close()
	m := exchangeMinter(t, idp.URL+"/token")
	c, d := agentCall("create_issue", `{}`)
	c.IdentityToken, c.IdentityIssuer = "a.user.token", "https://idp.test/"
	_, err := m.Mint(context.Background(), c, d)
	if err == nil || !strings.Contains(err.Error(), "another origin") {
		t.Fatalf("a redirected token exchange: %v", err)
	}
	if got := received(); len(got) != 0 {
		t.Fatalf("the redirect's target received %q", got)
	}
}
