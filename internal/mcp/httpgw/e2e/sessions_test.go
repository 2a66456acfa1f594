package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestSessionLimits: a caller cannot hold more than
// max_sessions_per_principal sessions (each holds upstream sessions, and
// in mode "session" a process): the next initialize gets 429 with
// Retry-After, and once a session ends (DELETE) a new one opens.
func TestSessionLimits(t *testing.T) {
	base := serve(t, fmt.Sprintf(`principal: {id: hoarder}
policy: {dirs: [%s]}
servers:
  - {name: ours, url: %q}
mcp: {gateway: {max_sessions: 10, max_sessions_per_principal: 2}}
`, testdata(t, "allow-all.cedar"), startConfServer(t)))
	url := base + "/mcp/ours"
	first := rawSession(t, url, "2025-06-18")
	rawSession(t, url, "2025-06-18")

	resp, _ := mcpPost(t, url, "",
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"third","version":"1"}}}`)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Fatalf("a third session: %d, Retry-After %q, session %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Mcp-Session-Id"))
	}

	del, _ := http.NewRequest(http.MethodDelete, url, nil)
	del.Header.Set("Mcp-Session-Id", first)
	resp, err := http.DefaultClient.Do(del)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	rawSession(t, url, "2025-06-18") // room again

	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `toolgate_errors_total{kind="session_limit"} 1`) {
		t.Errorf("/metrics does not count the refused session")
	}
}
