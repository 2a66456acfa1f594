package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/console"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/identity/idptest"
)

// oidcEnv is a console whose people sign in at a real OP (zitadel's).
func oidcEnv(t *testing.T) (*env, *idptest.OP) {
	op := idptest.Start(t)
	op.AddUser(idptest.User{ID: "carol", Username: "carol", Password: "pw-carol", Claims: map[string]any{"groups": []string{"finance"}}})
	e := newEnv(t, func(c *console.Config, o *console.Options) {
		c.OIDC = &console.OIDCConfig{Issuer: op.Issuer, ClientID: "toolgate-console"}
		ids, err := identity.New(identity.Config{Issuers: []identity.IssuerConfig{{Issuer: op.Issuer, Audience: []string{"toolgate-console"}}}}, identity.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o.Identity = ids
		op.AddWebClient(idptest.WebClient{ID: "toolgate-console", RedirectURIs: []string{o.BaseURL + "/console/auth/callback"}})
	})
	return e, op
}

// toCallback runs the flow in b up to the provider's redirect back to the
// console, and returns that callback URL (not yet visited).
func toCallback(t *testing.T, e *env, b *browser, op *idptest.OP, password string) string {
	t.Helper()
	resp, _ := b.get("/console/auth/start?next=/console/tasks")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, op.Issuer) {
		t.Fatalf("start: %d %s", resp.StatusCode, loc)
	}
	u, _ := url.Parse(loc)
	if u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("code_challenge") == "" || u.Query().Get("nonce") == "" || u.Query().Get("state") == "" {
		t.Fatalf("the authorization request lacks PKCE, nonce or state: %s", loc)
	}
	// Follow the provider's redirects to its login page, sign in there.
	for i := 0; i < 5 && !strings.Contains(loc, idptest.LoginPath); i++ {
		resp, err := b.c.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc = resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = strings.TrimSuffix(op.Issuer, "/") + loc
		}
	}
	lu, _ := url.Parse(loc)
	resp, err := b.c.PostForm(loc, url.Values{"authRequestID": {lu.Query().Get("authRequestID")}, "username": {"carol"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc = resp.Header.Get("Location")
	for i := 0; i < 5 && loc != "" && !strings.HasPrefix(loc, e.srv.URL); i++ {
		resp, err := b.c.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc = resp.Header.Get("Location")
	}
	if !strings.HasPrefix(loc, e.srv.URL+"/console/auth/callback?") {
		t.Fatalf("no redirect back to the console: %q", loc)
	}
	return loc
}

func visit(t *testing.T, b *browser, u string) (int, string) {
	t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestOIDCSignIn(t *testing.T) {
	e, op := oidcEnv(t)
	b := e.browser()
	cb := toCallback(t, e, b, op, "pw-carol")
	status, page := visit(t, b, cb)
	if status != http.StatusOK || !strings.Contains(page, `href="/console/tasks"`) {
		t.Fatalf("callback: %d\n%s", status, page)
	}
	if _, page := b.get("/console/approvals"); !strings.Contains(page, `User::&#34;carol&#34;`) {
		t.Fatalf("carol is not signed in:\n%s", page)
	}
	// The same callback again (a replayed code and state) signs nobody in.
	replay := e.browser()
	replay.c.Jar, _ = cookiejar.New(nil)
	if status, _ := visit(t, replay, cb); status != http.StatusForbidden {
		t.Fatalf("a replayed callback in another browser: %d", status)
	}
	if status, _ := visit(t, b, cb); status != http.StatusForbidden {
		t.Fatalf("a replayed callback: %d", status)
	}
}

// A callback that this browser did not start, or whose code was changed,
// signs nobody in.
func TestOIDCCallbackRefusals(t *testing.T) {
	e, op := oidcEnv(t)
	// Another browser's callback (login CSRF: an attacker's own code and
	// state pushed into the victim's browser).
	attacker := e.browser()
	cb := toCallback(t, e, attacker, op, "pw-carol")
	victim := e.browser()
	if status, _ := visit(t, victim, cb); status != http.StatusForbidden {
		t.Fatalf("another browser's callback: %d", status)
	}
	if resp, _ := victim.get("/console/approvals"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the victim was signed in: %d", resp.StatusCode)
	}
	// A changed code.
	b := e.browser()
	cb = toCallback(t, e, b, op, "pw-carol")
	u, _ := url.Parse(cb)
	q := u.Query()
	q.Set("code", q.Get("code")+"x")
	u.RawQuery = q.Encode()
	if status, _ := visit(t, b, u.String()); status != http.StatusUnauthorized {
		t.Fatalf("a changed code: %d", status)
	}
	// A changed state.
	b = e.browser()
	cb = toCallback(t, e, b, op, "pw-carol")
	u, _ = url.Parse(cb)
	q = u.Query()
	q.Set("state", q.Get("state")+"x")
	u.RawQuery = q.Encode()
	if status, _ := visit(t, b, u.String()); status != http.StatusForbidden {
		t.Fatalf("a changed state: %d", status)
	}
	// An error from the provider.
	b = e.browser()
	resp, _ := b.get("/console/auth/start")
	st, _ := url.Parse(resp.Header.Get("Location"))
	if status, _ := visit(t, b, e.srv.URL+"/console/auth/callback?error=access_denied&state="+url.QueryEscape(st.Query().Get("state"))); status != http.StatusUnauthorized {
		t.Fatalf("a provider's error: %d", status)
	}
	// A sign-in left at the provider expires.
	b = e.browser()
	cb = toCallback(t, e, b, op, "pw-carol")
	e.clock.add(11 * time.Minute)
	if status, _ := visit(t, b, cb); status != http.StatusForbidden {
		t.Fatalf("an expired sign-in: %d", status)
	}
}
