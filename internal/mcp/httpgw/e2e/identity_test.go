package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/identity/idptest"
)

// bearer adds a token to every request of the Go SDK client.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

func connect(t *testing.T, url, token string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}}}
	s, err := client.Connect(context.Background(), tr, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func toolNames(t *testing.T, s *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range s.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	return names
}

// TestTwoAgentsSeeAndGetDifferentThings: two agents with identity tokens
// from a real OpenID provider (zitadel's OP) use the aggregated endpoint
// /mcp. The reader sees one tool and may call it; the operator sees every
// tool of the server; a call only the operator may make is denied to the
// reader with the policy's reason and allowed to the operator. A client
// without a token gets 401 with the protected resource metadata's URL.
func TestTwoAgentsSeeAndGetDifferentThings(t *testing.T) {
	op := idptest.Start(t,
		idptest.Client{ID: "reader-agent", Secret: "s1", Claims: map[string]any{"groups": []string{"readers"}}},
		idptest.Client{ID: "ops-agent", Secret: "s2", Claims: map[string]any{"groups": []string{"operators"}}},
	)
	ours := startConfServer(t)
	base := serve(t, fmt.Sprintf(`policy: {dirs: [%s]}
identity:
  issuers:
    - {issuer: %q, audience: [toolgate]}
servers:
  - {name: ours, url: %q}
`, testdata(t, "agents.cedar"), op.Issuer, ours))

	// Unauthenticated: 401, WWW-Authenticate names the metadata.
	resp, _ := mcpPost(t, base+"/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
	wantMeta := base + "/.well-known/oauth-protected-resource"
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `Bearer resource_metadata="`+wantMeta+`"`) {
		t.Fatalf("unauthenticated: %s, WWW-Authenticate %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	resp, err := http.Get(wantMeta)
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Resource string   `json:"resource"`
		Servers  []string `json:"authorization_servers"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md.Resource != base || !slices.Contains(md.Servers, op.Issuer) {
		t.Errorf("metadata = %+v", md)
	}
	// A token that does not verify is refused the same way.
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer not.a.jwt")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("bad token: %v %v", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	reader := connect(t, base+"/mcp", op.Token(t, "reader-agent"))
	ops := connect(t, base+"/mcp", op.Token(t, "ops-agent"))

	readerTools, opsTools := toolNames(t, reader), toolNames(t, ops)
	if !slices.Equal(readerTools, []string{"ours/test_simple_text"}) {
		t.Errorf("the reader sees %v; want only ours/test_simple_text", readerTools)
	}
	if len(opsTools) < 5 || !slices.Contains(opsTools, "ours/test_image_content") || !slices.Contains(opsTools, "ours/test_simple_text") {
		t.Errorf("the operator sees %v", opsTools)
	}

	call := func(s *mcp.ClientSession, name string) *mcp.CallToolResult {
		t.Helper()
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
		if err != nil {
			t.Fatalf("call %s: %v", name, err)
		}
		return res
	}
	text := func(r *mcp.CallToolResult) string {
		var b strings.Builder
		for _, c := range r.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}
	if r := call(reader, "ours/test_simple_text"); r.IsError {
		t.Errorf("the reader's allowed call was refused: %s", text(r))
	}
	denied := call(reader, "ours/test_image_content")
	if !denied.IsError || !strings.Contains(text(denied), "toolgate denied this call to test_image_content") {
		t.Errorf("the reader's call to test_image_content: isError %v, %q", denied.IsError, text(denied))
	}
	if r := call(ops, "ours/test_image_content"); r.IsError || len(r.Content) == 0 {
		t.Errorf("the operator's call to test_image_content: %+v", r)
	} else if _, ok := r.Content[0].(*mcp.ImageContent); !ok {
		t.Errorf("the operator got %T, want an image", r.Content[0])
	}
	// The reader's session cannot be used with the operator's token.
	req, _ = http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", reader.ID())
	req.Header.Set("Authorization", "Bearer "+op.Token(t, "ops-agent"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("another agent's session: %v %v", resp.StatusCode, err)
	}
}
