package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// TestUpstreamStreamResumed: an upstream that closes a call's event stream
// before it answers (our server's test_reconnection, MCP 2025-11-25 and
// later) is resumed by toolgate with GET and Last-Event-ID, and the client
// gets the answer as if nothing happened.
func TestUpstreamStreamResumed(t *testing.T) {
	base := serve(t, fmt.Sprintf("principal: {id: resumer}\npolicy: {dirs: [%s]}\nservers:\n  - {name: ours, url: %q}\n",
		testdata(t, "allow-all.cedar"), startConfServer(t)))
	url := base + "/mcp/ours"
	sid := rawSession(t, url, "2025-11-25")
	for i := range 3 { // the resumed stream's connection is let go each time
		status, body := rawPost(t, url, sid, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"test_reconnection"}}`, i+1))
		if status != http.StatusOK || !bytes.Contains(body, []byte("Reconnection test completed successfully")) {
			t.Fatalf("call %d: %d %s", i+1, status, body)
		}
	}
}
