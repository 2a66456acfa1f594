package console

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/redirect"
)

// AdminKeyFile is the local admin key's file in the data directory.
const AdminKeyFile = "console-admin.key"

// adminKeyPrefix starts every admin key, so it is never taken for an API
// key or a token.
const adminKeyPrefix = "tgc_"

// LoadOrCreateAdminKey reads the local admin key from dataDir, creating it
// (readable by its owner only) on first use. Whoever can read the data
// directory is the local operator already: the key gives the console no
// power the CLI does not have there.
func LoadOrCreateAdminKey(dataDir string) (string, string, error) {
	path := filepath.Join(dataDir, AdminKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(b))
		if !strings.HasPrefix(key, adminKeyPrefix) || len(key) < len(adminKeyPrefix)+32 {
			return "", path, fmt.Errorf("console: %s is not a console admin key; remove it to make a new one", path)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return "", path, fmt.Errorf("console: %s may be read by other users (mode %v); chmod 600 it", path, fi.Mode().Perm())
		}
		return key, path, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", path, fmt.Errorf("console: %w", err)
	}
	key := adminKeyPrefix + randomToken()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", path, fmt.Errorf("console: %w", err)
	}
	_, werr := f.WriteString(key + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return "", path, fmt.Errorf("console: %w", err)
	}
	return key, path, nil
}

type signInData struct {
	OIDC     bool
	OIDCName string
	Keys     bool
	Next     string
	Pre      string
	Insecure bool
}

// safeNext keeps a return path only if it is a console page of this
// origin: "/console/…", no scheme, host or backslash tricks.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/console/") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") {
		return "/console/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.Contains(u.Path, "..") {
		return "/console/"
	}
	return next
}

func (c *Console) keysOn() bool { return c.o.AdminKey != "" || c.o.Identity.Enabled() }

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	if s, _ := c.session(r); s != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.showSignIn(w, r, http.StatusOK, "")
}

func (c *Console) showSignIn(w http.ResponseWriter, r *http.Request, status int, msg string) {
	pre := randomToken()
	c.cookies.set(w, preCookie, pre, "/console/signin", 30*time.Minute, http.SameSiteStrictMode)
	d := signInData{OIDC: c.oidc != nil, Keys: c.keysOn(), Next: safeNext(r.FormValue("next")), Pre: pre, Insecure: !c.o.Secure && !strings.HasPrefix(c.o.BaseURL, "http://127.") && !strings.HasPrefix(c.o.BaseURL, "http://localhost") && !strings.HasPrefix(c.o.BaseURL, "http://[::1]")}
	if c.oidc != nil {
		d.OIDCName = c.oidc.name()
	}
	c.render(w, status, "signin", nil, view{Title: "Sign in", Error: msg, Data: d})
}

// signInKey signs in with the local admin key or a person's API key.
func (c *Console) signInKey(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	if err := r.ParseForm(); err != nil {
		c.showSignIn(w, r, http.StatusBadRequest, "the form cannot be read")
		return
	}
	// Double submit: the form's token must be the one this browser got
	// with the form (a page elsewhere cannot read or set it).
	ck, err := r.Cookie(preCookie)
	if err != nil || !sameToken(ck.Value, r.PostForm.Get("csrf")) {
		c.o.Log.Warn("console: a sign-in without the form's CSRF token was refused")
		c.showSignIn(w, r, http.StatusForbidden, CodeCSRF+": the sign-in form has expired; try again")
		return
	}
	key := strings.TrimSpace(r.PostForm.Get("key"))
	var s *session
	switch {
	case key == "":
	case c.o.AdminKey != "" && sameToken(key, c.o.AdminKey):
		s = &session{Operator: true, Via: "admin_key", Principal: call.Principal{Kind: call.KindUser, ID: "console-admin"}}
	case strings.HasPrefix(key, identity.APIKeyPrefix) && c.o.Identity.Enabled():
		id, err := c.o.Identity.Verify(r.Context(), key)
		if err == nil && id.Principal.Kind == call.KindUser {
			s = &session{Principal: id.Principal, Via: "api_key"}
		}
	}
	if s == nil {
		c.o.Log.Warn("console: a sign-in with an unknown key was refused", "remote", r.RemoteAddr)
		c.showSignIn(w, r, http.StatusUnauthorized, CodeSignIn+": the key is not the admin key or a person's API key")
		return
	}
	c.startSession(w, r, s, r.PostForm.Get("next"))
}

// startSession sets the session cookie and goes on to next. The page it
// answers with moves on by itself: a navigation that starts on this
// origin sends the new SameSite=Strict cookie even when the sign-in began
// at the identity provider (a redirect chain from another site would not).
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, s *session, next string) {
	id := c.sessions.create(s)
	c.cookies.set(w, c.cookies.session(), id, c.cookies.path(), c.cfg.SessionTTL, http.SameSiteStrictMode)
	c.cookies.clear(w, preCookie, "/console/signin")
	c.o.Log.Info("console: signed in", "person", s.Name(), "via", s.Via)
	c.render(w, http.StatusOK, "continue", nil, view{Title: "Signed in", Data: safeNext(next)})
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s *session) {
	if _, id := c.session(r); id != "" {
		c.sessions.end(id)
	}
	c.cookies.clear(w, c.cookies.session(), c.cookies.path())
	c.o.Log.Info("console: signed out", "person", s.Name())
	http.Redirect(w, r, signInPath, http.StatusSeeOther)
}

// oidcClient is the console's OpenID Connect relying party: authorization
// code flow with PKCE (S256), state bound to the browser by a cookie, and
// a nonce checked in the ID token.
type oidcClient struct {
	cfg      *OIDCConfig
	secret   string
	redirect string
	client   *http.Client
	now      func() time.Time

	mu      sync.Mutex
	rp      rp.RelyingParty // discovered on first use
	pending map[string]login
}

type login struct {
	verifier, nonce, next string
	expires               time.Time
}

// loginTTL bounds a sign-in at the provider.
const loginTTL = 10 * time.Minute

// maxPending bounds sign-ins in progress.
const maxPending = 10000

func newOIDC(cfg *OIDCConfig, secret, redirectURL string, client *http.Client, now func() time.Time) *oidcClient {
	return &oidcClient{cfg: cfg, secret: secret, redirect: redirectURL, now: now, pending: map[string]login{},
		client: redirect.Client(client, redirect.SameOrigin)}
}

func (o *oidcClient) name() string {
	if o.cfg.Name != "" {
		return o.cfg.Name
	}
	if u, err := url.Parse(o.cfg.Issuer); err == nil {
		return u.Host
	}
	return o.cfg.Issuer
}

type nonceKey struct{}

func (o *oidcClient) party(ctx context.Context) (rp.RelyingParty, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.rp != nil {
		return o.rp, nil
	}
	party, err := rp.NewRelyingPartyOIDC(ctx, o.cfg.Issuer, o.cfg.ClientID, o.secret, o.redirect, o.cfg.Scopes,
		rp.WithHTTPClient(o.client), rp.WithSigningAlgsFromDiscovery(),
		rp.WithVerifierOpts(rp.WithNonce(func(ctx context.Context) string { n, _ := ctx.Value(nonceKey{}).(string); return n })))
	if err != nil {
		return nil, err
	}
	o.rp = party
	return party, nil
}

func (o *oidcClient) begin(next string) (state string, l login) {
	now := o.now()
	state = randomToken()
	l = login{verifier: oauth2.GenerateVerifier(), nonce: randomToken(), next: next, expires: now.Add(loginTTL)}
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, v := range o.pending {
		if now.After(v.expires) {
			delete(o.pending, k)
		}
	}
	if len(o.pending) >= maxPending {
		for k := range o.pending { // drop any: all are recent
			delete(o.pending, k)
			break
		}
	}
	o.pending[state] = l
	return state, l
}

// finish takes the sign-in of state (once).
func (o *oidcClient) finish(state string) (login, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	l, ok := o.pending[state]
	delete(o.pending, state)
	if !ok || o.now().After(l.expires) {
		return login{}, false
	}
	return l, true
}

func (c *Console) oidcStart(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	if c.oidc == nil {
		c.fail(w, r, nil, http.StatusNotFound, CodeNotFound, "sign-in with an identity provider is not configured (console.oidc)")
		return
	}
	party, err := c.oidc.party(r.Context())
	if err != nil {
		c.o.Log.Error("console: the identity provider cannot be reached", "issuer", c.oidc.cfg.Issuer, "error", err)
		c.fail(w, r, nil, http.StatusBadGateway, CodeSignIn, "the identity provider cannot be reached: "+err.Error())
		return
	}
	state, l := c.oidc.begin(safeNext(r.URL.Query().Get("next")))
	c.cookies.set(w, loginCookie, state, "/console/auth", loginTTL, http.SameSiteLaxMode)
	sum := sha256.Sum256([]byte(l.verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	u := rp.AuthURL(state, party, rp.WithCodeChallenge(challenge), rp.AuthURLOpt(rp.WithURLParam("nonce", l.nonce)))
	// WithCodeChallenge says S256 (RFC 7636 §4.2).
	http.Redirect(w, r, u, http.StatusFound)
}

func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	if c.oidc == nil {
		c.fail(w, r, nil, http.StatusNotFound, CodeNotFound, "sign-in with an identity provider is not configured (console.oidc)")
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	ck, err := r.Cookie(loginCookie)
	c.cookies.clear(w, loginCookie, "/console/auth")
	if err != nil || !sameToken(ck.Value, state) {
		c.showSignIn(w, r, http.StatusForbidden, CodeSignIn+": this sign-in was not started by this browser (or it took too long); start again")
		return
	}
	l, ok := c.oidc.finish(state)
	if !ok {
		c.showSignIn(w, r, http.StatusForbidden, CodeSignIn+": this sign-in has expired or was used already; start again")
		return
	}
	if e := q.Get("error"); e != "" {
		c.showSignIn(w, r, http.StatusUnauthorized, CodeSignIn+": the identity provider said "+e+": "+q.Get("error_description"))
		return
	}
	party, err := c.oidc.party(r.Context())
	if err != nil {
		c.fail(w, r, nil, http.StatusBadGateway, CodeSignIn, "the identity provider cannot be reached: "+err.Error())
		return
	}
	ctx := context.WithValue(r.Context(), nonceKey{}, l.nonce)
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, q.Get("code"), party, rp.WithCodeVerifier(l.verifier))
	if err != nil {
		c.o.Log.Warn("console: a sign-in failed at the code exchange", "error", err)
		c.showSignIn(w, r, http.StatusUnauthorized, CodeSignIn+": the identity provider's answer is not valid: "+err.Error())
		return
	}
	// The ID token was checked (signature, issuer, audience, expiry,
	// nonce); the principal comes from it by identity's rules, the same
	// as for every other token of this provider.
	id, err := c.o.Identity.Verify(r.Context(), tokens.IDToken)
	if err != nil {
		c.showSignIn(w, r, http.StatusUnauthorized, CodeSignIn+": the ID token is not accepted by identity.issuers: "+err.Error())
		return
	}
	if id.Principal.Kind != call.KindUser {
		c.showSignIn(w, r, http.StatusForbidden, CodeSignIn+": "+principalName(id.Principal)+" is not a person; only people sign in to the console")
		return
	}
	c.startSession(w, r, &session{Principal: id.Principal, Via: "oidc"}, l.next)
}
