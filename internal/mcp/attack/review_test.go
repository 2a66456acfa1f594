package attack

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/identity/idptest"
)

// The classes of the second review that an agent can try through the MCP
// front door, attacked through the real `toolgate serve` in front of the
// lax server (shared and one process per session), with a real OpenID
// provider (the zitadel OP) issuing the agents' tokens. The other classes of
// that review are attacked where their part is: upstream and webhook
// redirects in internal/credential/e2e (TestUpstreamRedirectLeaksNothing)
// and internal/approval (TestWebhookRedirect), key-set stalls and token
// shapes in internal/identity and internal/txntoken, budgets in
// internal/enforce (settle and refund tests), redaction in internal/audit.

const reviewPolicies = `
// One exec_cmd an hour, whoever calls, across every session and server.
@id("one-exec-an-hour")
permit (principal is Agent, action in [Action::"lax/exec_cmd", Action::"laxs/exec_cmd"], resource)
when { context.windows.execs_1h <= 1 };

// Only a person may delete; a service account is never one.
@id("people-delete")
permit (principal is User, action in [Action::"lax/delete_file", Action::"laxs/delete_file"], resource);
`

// TestReviewClassesOverServe:
//   - windows passed by parallel calls: 20 exec_cmd calls sent at once from
//     20 sessions (10 on the shared server, 10 on per-session ones) under
//     "one an hour" run exactly once;
//   - service accounts judged as humans: a client-credentials token whose
//     subject differs from its azp (the shape of Entra ID and Keycloak
//     service accounts) is an Agent under kind auto, so it cannot delete;
//   - a flood of tokens with unknown key ids (no secret needed) is refused
//     with identity errors while the valid calls made beside it all get
//     their answers.
//
// Then the suite's property: everything the servers carried out was judged
// allowed, as carried out, and recorded in a trail that verifies.
func TestReviewClassesOverServe(t *testing.T) {
	op := idptest.Start(t,
		idptest.Client{ID: "bot", Secret: "s1"},
		// An Entra-shaped service account: the subject is its service
		// principal, not its client id.
		idptest.Client{ID: "svc", Secret: "s2", Subject: "a9d5e3f1-0b7c-4d52-9c3e-1f2a3b4c5d6e", Claims: map[string]any{"appidacr": "1", "roles": []any{"Tools.Invoke"}}},
	)
	g := serveLax(t, reviewPolicies, fmt.Sprintf(`identity:
  issuers:
    - {issuer: %q, audience: [toolgate], kind: auto}
history:
  windows:
    execs_1h: {op: count, actions: [lax/exec_cmd, laxs/exec_cmd], within: 1h, per: principal, include_current: true}
`, op.Issuer))
	base := g.base
	bot, svc := op.Token(t, "bot"), op.Token(t, "svc")

	session := func(server, token string) *mcpHTTP {
		c := &mcpHTTP{t: t, url: base + "/mcp/" + server, token: token}
		c.post(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"review","version":"1"}}}`, http.StatusOK)
		c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, http.StatusAccepted)
		return c
	}
	callTool := func(tool string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":{"cmd":"id"}}}`
	}

	// Windows: twenty calls side by side.
	var sessions []*mcpHTTP
	for i := range 20 {
		sessions = append(sessions, session([]string{"lax", "laxs"}[i%2], bot))
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c.post(callTool("exec_cmd"), http.StatusOK)
		}()
	}
	close(start)
	wg.Wait()
	for _, c := range sessions {
		c.end()
	}

	// Service account under kind auto: an Agent, so no deletes.
	for _, server := range []string{"lax", "laxs"} {
		c := session(server, svc)
		if body := c.post(`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`, http.StatusOK); !strings.Contains(body, "denied") && !strings.Contains(body, `"isError":true`) {
			t.Errorf("%s: a service account's delete was not refused: %s", server, body)
		}
		c.end()
	}

	// Unknown key ids beside valid calls: every forged request refused,
	// every valid one answered.
	forged := forgeUnknownKid(t, op.Issuer)
	var fwg sync.WaitGroup
	refusedForged := make(chan int, 40)
	for range 40 {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			c := &mcpHTTP{t: t, url: base + "/mcp/lax", token: forged}
			c.post(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"forger","version":"1"}}}`, 0)
			refusedForged <- c.status
		}()
	}
	for range 10 {
		c := session("lax", bot)
		if body := c.post(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`, http.StatusOK); !strings.Contains(body, `"exec_cmd"`) {
			t.Errorf("a valid call beside the forged tokens: %s", body)
		}
		c.end()
	}
	fwg.Wait()
	close(refusedForged)
	for status := range refusedForged {
		if status != http.StatusUnauthorized {
			t.Errorf("a token with an unknown key id got status %d, want 401", status)
		}
	}

	ex, ds := g.results(t)
	checkJudged(t, "review", ex, ds)
	execs, deletes := 0, 0
	for _, e := range ex {
		switch {
		case e.Kind == "call" && e.Name == "exec_cmd":
			execs++
		case e.Kind == "call" && e.Name == "delete_file":
			deletes++
		}
	}
	t.Logf("%d exec_cmd ran, %d deletes", execs, deletes)
	if execs != 1 {
		t.Errorf("%d of 20 exec_cmd calls sent side by side ran under a limit of one an hour", execs)
	}
	if deletes != 0 {
		t.Errorf("a service account deleted %d times: it was judged a person", deletes)
	}
	judged := 0
	for _, d := range ds {
		if d.Tool == "exec_cmd" {
			judged++
		}
	}
	if judged != 20 {
		t.Errorf("%d exec_cmd decisions recorded, want 20 (every call, run or not)", judged)
	}
}

// forgeUnknownKid signs a token with a key the issuer never had, under a
// key id it does not publish: anyone can make one.
func forgeUnknownKid(t *testing.T, issuer string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "kid-nobody-published"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: issuer, Subject: "bot", Audience: jwt.Audience{"toolgate"},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
