package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/txntoken"
)

const githubAudience = "https://github-tools.test/mcp"

var claimsRE = regexp.MustCompile(`sub=(\S+) req_wl=(\S+) scope=(\S+) txn=(\S+) jti=(\S+)`)

// TestHTTPUpstreamChecksPerCallTokens drives `toolgate serve` in front of a
// Go SDK HTTP server that checks every call's token with txntoken: an
// allowed call carries a valid token for that call; the same token replayed,
// reused for other arguments or another tool, or used after it expired is
// rejected by the server.
func TestHTTPUpstreamChecksPerCallTokens(t *testing.T) {
	w := newWorld(t)
	h := startHTTPTools(t, w.jwks(), githubAudience)
	w.write(`{github-bearer: {credential: bearer}}`, fmt.Sprintf(`servers:
  - {name: github, url: %s}
  - {name: github-bearer, url: %s}`, h.URL, h.URL), fmt.Sprintf(`credentials:
  servers:
    github: {audience: %s, ttl: 2s}
    github-bearer: {audience: %s}`, githubAudience, githubAudience))
	w.serve()
	s := w.connect("github")

	// An allowed call carries a valid token, for this call.
	res := callTool(t, s, "create_issue", map[string]any{"title": "bug"})
	if res.IsError {
		t.Fatalf("allowed call failed: %s", text(res))
	}
	m := claimsRE.FindStringSubmatch(text(res))
	if m == nil || m[1] != "alice" || m[2] != "researcher" || m[3] != "github/create_issue" {
		t.Fatalf("the server saw: %s", text(res))
	}
	txn, jti := m[4], m[5]
	ran := h.ranCalls()
	if len(ran) != 1 {
		t.Fatalf("the server ran %d calls", len(ran))
	}
	token := ran[0].Get(txntoken.HeaderName)
	if token == "" || ran[0].Get("Authorization") != "" {
		t.Fatalf("the upstream request carried Txn-Token %q and Authorization %q (the agent's own key must stay with toolgate)", token, ran[0].Get("Authorization"))
	}
	// The audit record names the credential by its id, never by the token.
	rec := w.auditQuery("--decision", txn)
	if !strings.Contains(rec, `"credential_id":"`+jti+`"`) || strings.Contains(rec, token) || strings.Contains(rec, strings.Split(token, ".")[2]) {
		t.Fatalf("audit record of %s:\n%s", txn, rec)
	}

	reason := func(body string) string {
		var r struct {
			Error struct {
				Data struct{ Reason string } `json:"data"`
			} `json:"error"`
		}
		_ = json.Unmarshal([]byte(body), &r)
		return r.Error.Data.Reason
	}

	t.Run("replayed", func(t *testing.T) {
		status, body := h.postCall(t, token, "create_issue", map[string]any{"title": "bug"})
		if status != http.StatusUnauthorized || reason(body) != txntoken.ReasonReplayed {
			t.Fatalf("replay: HTTP %d %s", status, body)
		}
	})

	t.Run("other arguments or tool", func(t *testing.T) {
		held := h.holdNext(t, func() {
			_, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "create_issue", Arguments: map[string]any{"title": "held"}})
			if err == nil {
				t.Error("the held call succeeded")
			}
		})
		status, body := h.postCall(t, held.Token, "create_issue", map[string]any{"title": "something else"})
		if status != http.StatusForbidden || reason(body) != txntoken.ReasonInput {
			t.Fatalf("other arguments: HTTP %d %s", status, body)
		}
		status, body = h.postCall(t, held.Token, "close_issue", map[string]any{"number": 1})
		if status != http.StatusForbidden || reason(body) != txntoken.ReasonTool {
			t.Fatalf("another tool: HTTP %d %s", status, body)
		}
		// The same token with its own call works (once): only the binding
		// failed above.
		status, body = h.postCall(t, held.Token, "create_issue", map[string]any{"title": "held"})
		if status != http.StatusOK || !strings.Contains(body, "created issue held") {
			t.Fatalf("the token's own call: HTTP %d %s", status, body)
		}
		status, body = h.postCall(t, held.Token, "create_issue", map[string]any{"title": "held"})
		if status != http.StatusUnauthorized || reason(body) != txntoken.ReasonReplayed {
			t.Fatalf("its second use: HTTP %d %s", status, body)
		}
	})

	t.Run("expired", func(t *testing.T) {
		held := h.holdNext(t, func() {
			_, _ = s.CallTool(context.Background(), &mcp.CallToolParams{Name: "close_issue", Arguments: map[string]any{"number": 7}})
		})
		time.Sleep(2500 * time.Millisecond) // credentials.servers.github.ttl is 2s
		status, body := h.postCall(t, held.Token, "close_issue", map[string]any{"number": 7})
		if status != http.StatusUnauthorized || reason(body) != txntoken.ReasonExpired {
			t.Fatalf("expired: HTTP %d %s", status, body)
		}
	})

	t.Run("no token", func(t *testing.T) {
		status, body := h.postCall(t, "", "create_issue", map[string]any{"title": "bug"})
		if status != http.StatusUnauthorized || reason(body) != txntoken.ReasonMissing {
			t.Fatalf("no token: HTTP %d %s", status, body)
		}
	})

	t.Run("bearer mode", func(t *testing.T) {
		sb := w.connect("github-bearer")
		res := callTool(t, sb, "create_issue", map[string]any{"title": "via bearer"})
		if res.IsError || !strings.Contains(text(res), "sub=alice") {
			t.Fatalf("bearer mode: %s", text(res))
		}
		ran := h.ranCalls()
		last := ran[len(ran)-1]
		if last.Get(txntoken.HeaderName) != "" || !strings.HasPrefix(last.Get("Authorization"), "Bearer ey") {
			t.Fatalf("bearer mode sent Txn-Token %q, Authorization %q", last.Get(txntoken.HeaderName), last.Get("Authorization"))
		}
	})
}
