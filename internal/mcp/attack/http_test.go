package attack

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHTTPAttacks sends every attack through `toolgate serve`'s gateway to
// the lax server, run shared by every session (/mcp/lax) and one process
// per session (/mcp/laxs), each attack in a session of its own, and checks
// the property over everything the servers carried out.
func TestHTTPAttacks(t *testing.T) {
	policies, err := os.ReadFile(filepath.Join(testdata(t, "policies"), "attack.cedar"))
	if err != nil {
		t.Fatal(err)
	}
	// The same rule for the server run per session.
	both := string(policies) + "\n" + strings.ReplaceAll(strings.ReplaceAll(string(policies), "lax/", "laxs/"), `@id("`, `@id("s-`)
	g := serveLax(t, both, "principal: {id: attacker}\n")
	base := g.base

	refused := 0
	for _, server := range []string{"lax", "laxs"} {
		for _, a := range attacks() {
			c := &mcpHTTP{t: t, url: base + "/mcp/" + server}
			version := a.version
			if version == "" {
				version = "2025-06-18"
			}
			c.post(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"`+version+`","capabilities":{},"clientInfo":{"name":"attack","version":"1"}}}`, http.StatusOK)
			c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, http.StatusAccepted)
			rejected := false
			for _, m := range a.msgs {
				c.post(m, 0)
				rejected = rejected || c.status == http.StatusBadRequest
			}
			if body := c.post(`{"jsonrpc":"2.0","id":"end","method":"ping"}`, http.StatusOK); !strings.Contains(body, `"end"`) {
				t.Errorf("%s %s: ping after the attack: %s", server, a.name, body)
			}
			c.end()
			// A shared server answers initialize once, for every session: a
			// later session gets its protocol version and may not batch (the
			// batch is refused whole, 400, and nothing of it recorded).
			if !(rejected && a.version != "") {
				refused += a.refused
			}
		}
	}
	ex, ds := g.results(t)
	checkJudged(t, "HTTP", ex, ds)
	if got := refusedAsNotification(ds); got != refused {
		t.Errorf("%d refusals of tools/call notifications recorded, want %d", got, refused)
	}
}

// mcpHTTP is a bare Streamable HTTP client: it sends bodies as they are.
type mcpHTTP struct {
	t       *testing.T
	url     string
	session string
	token   string // a bearer token, if any
	status  int    // of the last POST
}

// post sends one body and returns the response's; want 0 accepts any
// status below 500.
func (c *mcpHTTP) post(body string, want int) string {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("POST %q: %v", clip(body), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c.status = resp.StatusCode
	if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
		c.session = id
	}
	if (want != 0 && resp.StatusCode != want) || resp.StatusCode >= 500 {
		c.t.Fatalf("POST %q: status %d, want %d: %s", clip(body), resp.StatusCode, want, b)
	}
	return string(b)
}

// client gives up on an answer that does not come (an attack that got
// through can leave a request unanswered); no decision depends on it.
var client = &http.Client{Timeout: time.Minute}

// end deletes the session.
func (c *mcpHTTP) end() {
	req, _ := http.NewRequest(http.MethodDelete, c.url, nil)
	req.Header.Set("Mcp-Session-Id", c.session)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
