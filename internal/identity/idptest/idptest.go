// Package idptest starts a real OpenID provider for toolgate's tests: the OP
// of github.com/zitadel/oidc/v3 (its op package, with the in-memory storage
// of its example server), served on loopback by the test that needs it.
//
// Why not the example server binary as it is: it issues client-credentials
// access tokens only as opaque strings (op.AccessTokenTypeBearer), has one
// service account, and never rotates its signing key. Toolgate's tests need
// JWT access tokens for several agents with their own claims and audiences,
// and a key rotation. So this package keeps the zitadel OP — discovery,
// JWKS, the token endpoint with client credentials, its JWT signing — and
// replaces only the storage methods that decide those things. Nothing here
// is a stand-in for the protocol: tokens are requested over HTTP from the
// OP's token endpoint and verified against the keys it publishes.
package idptest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client is a service account (an agent) that gets tokens by client
// credentials.
type Client struct {
	ID, Secret string
	// Audience of its access tokens (default: ["toolgate"]).
	Audience []string
	// Claims are added to its access tokens (groups, act_for, …).
	Claims map[string]any
	// Subject is its tokens' sub (default: its ID). Entra ID's service
	// accounts carry their service principal's object id there, not the
	// client id.
	Subject string
}

// WebClient is a relying party that signs people in with the authorization
// code flow (a web console): with a secret, a confidential client (client
// secret basic); without one, a public client, which must use PKCE.
type WebClient struct {
	ID, Secret   string
	RedirectURIs []string
}

// User is a person who signs in at the OP's login page.
type User struct {
	ID, Username, Password string
	// Claims are added to the person's ID tokens (groups, …).
	Claims map[string]any
}

// LoginPath is the OP's login page (its form has the fields username and
// password).
const LoginPath = "/login/username"

// OP is a running OpenID provider.
type OP struct {
	// Issuer is the provider's issuer URL (its http://127.0.0.1:port/).
	Issuer string
	srv    *httptest.Server
	st     *opStorage
}

// Start starts a provider with the given service accounts; the test's
// cleanup stops it.
func Start(t testing.TB, clients ...Client) *OP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + "/"
	people := &users{fallback: storage.NewUserStore(issuer), byID: map[string]*User{}}
	st := &opStorage{
		Storage: storage.NewStorage(people),
		clients: map[string]*client{},
		web:     map[string]*webClient{},
		users:   people,
	}
	for _, c := range clients {
		if len(c.Audience) == 0 {
			c.Audience = []string{"toolgate"}
		}
		st.clients[c.ID] = &client{Client: c, OPClient: OPClient{ID: c.ID}}
	}
	st.rotate()
	cfg := &op.Config{
		CryptoKey:                sha256.Sum256([]byte("idptest")),
		CryptoKeyId:              "idptest",
		DefaultLogoutRedirectURI: "/",
		AuthMethodPost:           true,
	}
	provider, err := op.NewProvider(cfg, st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(LoginPath, login{st: st, issuer: issuer})
	mux.Handle("/", provider)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &OP{Issuer: issuer, srv: srv, st: st}
}

// AddWebClient registers a relying party for the authorization code flow.
func (o *OP) AddWebClient(c WebClient) {
	o.st.mu.Lock()
	defer o.st.mu.Unlock()
	o.st.web[c.ID] = &webClient{c}
}

// AddUser registers a person who can sign in.
func (o *OP) AddUser(u User) {
	o.st.users.mu.Lock()
	defer o.st.users.mu.Unlock()
	o.st.users.byID[u.ID] = &u
}

// Token gets an access token for a client by the client-credentials grant at
// the OP's token endpoint.
func (o *OP) Token(t testing.TB, clientID string) string {
	t.Helper()
	c, ok := o.st.clients[clientID]
	if !ok {
		t.Fatalf("idptest: no client %q", clientID)
	}
	form := url.Values{"grant_type": {string(oidc.GrantTypeClientCredentials)}, "scope": {"openid"}}
	req, _ := http.NewRequest(http.MethodPost, o.Issuer+"oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.Client.ID), url.QueryEscape(c.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("idptest: token response: %v", err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("idptest: token request for %s: %s %s: %s", clientID, resp.Status, body.Error, body.Description)
	}
	return body.AccessToken
}

// RotateKey replaces the signing key; the old key is no longer published
// (rotated out), so tokens it signed must stop verifying.
func (o *OP) RotateKey() { o.st.rotate() }

// PublicKeyPEM is the current signing key's public half (PKIX PEM), for
// tests that forge an HS256 token with it as the secret.
func (o *OP) PublicKeyPEM() []byte {
	o.st.mu.Lock()
	defer o.st.mu.Unlock()
	der, _ := x509.MarshalPKIXPublicKey(&o.st.key.key.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// KeyID is the current signing key's id.
func (o *OP) KeyID() string {
	o.st.mu.Lock()
	defer o.st.mu.Unlock()
	return o.st.key.id
}

// opStorage is the example server's storage with toolgate's clients and a
// rotating key.
type opStorage struct {
	*storage.Storage
	clients map[string]*client

	mu    sync.Mutex
	key   *SigningKey
	web   map[string]*webClient
	users *users
}

// SigningKey is an RS256 key in the form zitadel's OP signs with (op.SigningKey);
// Public is its op.Key for the JWKS. Other tests that run an OP of their
// own use it too.
type SigningKey struct {
	id  string
	key *rsa.PrivateKey
}

// NewSigningKey wraps an RSA key under an id.
func NewSigningKey(id string, key *rsa.PrivateKey) *SigningKey { return &SigningKey{id: id, key: key} }

func (k *SigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *SigningKey) Key() any                                    { return k.key }
func (k *SigningKey) ID() string                                  { return k.id }

// Public returns the key's public half as an op.Key.
func (k *SigningKey) Public() op.Key { return publicKey{k} }

type publicKey struct{ k *SigningKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }

func (s *opStorage) rotate() {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.key = &SigningKey{id: uuid.NewString(), key: k}
	s.mu.Unlock()
}

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key, nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []op.Key{publicKey{s.key}}, nil
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	s.mu.Lock()
	w, ok := s.web[id]
	s.mu.Unlock()
	if ok {
		return w, nil
	}
	return s.Storage.GetClientByClientID(ctx, id)
}

func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if c, ok := s.clients[id]; ok {
		if c.Secret != secret {
			return errors.New("wrong client secret")
		}
		return nil
	}
	s.mu.Lock()
	w, ok := s.web[id]
	s.mu.Unlock()
	if ok {
		if w.Secret == "" || w.Secret != secret {
			return errors.New("wrong client secret")
		}
		return nil
	}
	return s.Storage.AuthorizeClientIDSecret(ctx, id, secret)
}

func (s *opStorage) ClientCredentials(_ context.Context, id, secret string) (op.Client, error) {
	c, ok := s.clients[id]
	if !ok || c.Secret != secret {
		return nil, errors.New("wrong client id or secret")
	}
	return c, nil
}

func (s *opStorage) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, ok := s.clients[id]
	if !ok {
		return nil, errors.New("unknown client")
	}
	sub := c.Client.Subject
	if sub == "" {
		sub = c.Client.ID
	}
	return &oidc.JWTTokenRequest{Subject: sub, Audience: c.Audience, Scopes: scopes}, nil
}

func (s *opStorage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	if c, ok := s.clients[clientID]; ok {
		return c.Claims, nil
	}
	return s.Storage.GetPrivateClaimsFromScopes(ctx, userID, clientID, scopes)
}

// SetUserinfoFromRequest adds the signed-in person's claims to their ID
// token.
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, token op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, token, scopes); err != nil {
		return err
	}
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	if u, ok := s.users.byID[token.GetSubject()]; ok {
		for k, v := range u.Claims {
			info.AppendClaims(k, v)
		}
	}
	return nil
}

// users are the test's people, then the example storage's.
type users struct {
	mu       sync.Mutex
	byID     map[string]*User
	fallback storage.UserStore
}

func (u *users) GetUserByID(id string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	if p, ok := u.byID[id]; ok {
		return &storage.User{ID: p.ID, Username: p.Username, Password: p.Password, FirstName: p.Username, Email: p.Username + "@example.test", EmailVerified: true}
	}
	return u.fallback.GetUserByID(id)
}

func (u *users) GetUserByUsername(name string) *storage.User {
	u.mu.Lock()
	var id string
	for _, p := range u.byID {
		if p.Username == name {
			id = p.ID
		}
	}
	u.mu.Unlock()
	if id != "" {
		return u.GetUserByID(id)
	}
	return u.fallback.GetUserByUsername(name)
}

func (u *users) ExampleClientID() string { return u.fallback.ExampleClientID() }

// login is the OP's login page: a form of username and password; a right
// pair finishes the authorization request and sends the browser on to the
// OP's callback, which redirects to the client with a code.
type login struct {
	st     *opStorage
	issuer string
}

func (l login) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.FormValue("authRequestID")
	msg := ""
	if r.Method == http.MethodPost {
		if err := l.st.CheckUsernamePassword(r.PostForm.Get("username"), r.PostForm.Get("password"), id); err == nil {
			http.Redirect(w, r, l.issuer+"authorize/callback?id="+url.QueryEscape(id), http.StatusFound)
			return
		}
		msg = "wrong username or password"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, map[string]string{"ID": id, "Error": msg})
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html><html><head><title>Sign in (idptest)</title></head><body>
<h1>idptest sign-in</h1>{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post"><input type="hidden" name="authRequestID" value="{{.ID}}">
<label>Username <input id="username" name="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Sign in</button></form></body></html>`))

// webClient is a WebClient as zitadel's OP sees it.
type webClient struct{ WebClient }

func (c *webClient) GetID() string                    { return c.ID }
func (c *webClient) RedirectURIs() []string           { return c.WebClient.RedirectURIs }
func (c *webClient) PostLogoutRedirectURIs() []string { return nil }
func (c *webClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c *webClient) AuthMethod() oidc.AuthMethod {
	if c.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *webClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *webClient) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *webClient) LoginURL(id string) string {
	return LoginPath + "?authRequestID=" + url.QueryEscape(id)
}
func (c *webClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *webClient) IDTokenLifetime() time.Duration       { return 5 * time.Minute }
func (c *webClient) DevMode() bool                        { return true } // http redirect URIs on loopback
func (c *webClient) IsScopeAllowed(string) bool           { return true }
func (c *webClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *webClient) ClockSkew() time.Duration             { return 0 }
func (c *webClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *webClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// client is a test client: its secret and claims, and how the OP sees it.
type client struct {
	Client
	OPClient
}

// OPClient is a confidential client as zitadel's OP sees it: client secret
// (basic auth), JWT access tokens, and the grant types it may use (default:
// client credentials). Other test OPs built on zitadel's (the token
// exchange test's) use it too.
type OPClient struct {
	ID     string
	Grants []oidc.GrantType
}

func (c *OPClient) GetID() string                       { return c.ID }
func (c *OPClient) RedirectURIs() []string              { return nil }
func (c *OPClient) PostLogoutRedirectURIs() []string    { return nil }
func (c *OPClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *OPClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *OPClient) ResponseTypes() []oidc.ResponseType  { return nil }
func (c *OPClient) GrantTypes() []oidc.GrantType {
	if len(c.Grants) == 0 {
		return []oidc.GrantType{oidc.GrantTypeClientCredentials}
	}
	return c.Grants
}
func (c *OPClient) LoginURL(string) string               { return "" }
func (c *OPClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *OPClient) IDTokenLifetime() time.Duration       { return 5 * time.Minute }
func (c *OPClient) DevMode() bool                        { return false }
func (c *OPClient) IsScopeAllowed(string) bool           { return true }
func (c *OPClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *OPClient) ClockSkew() time.Duration             { return 0 }
func (c *OPClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *OPClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
