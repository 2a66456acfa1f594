package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/testutil"
)

// TestAggregatedStdioAndHTTP: /mcp offers a stdio server the gateway runs
// (server-everything, one process per session) and a remote one (our
// conformance server, ./confserver) side by side, names (and resource URIs,
// in lists and results) namespaced, calls routed; the
// legacy HTTP+SSE transport reaches the same tools; /metrics counts the
// decisions; /readyz checks the upstreams.
func TestAggregatedStdioAndHTTP(t *testing.T) {
	everything := testutil.NodeBin(t, "mcp-server-everything")
	ours := startConfServer(t)
	base := serve(t, fmt.Sprintf(`principal: {id: tester}
policy: {dirs: [%s]}
servers:
  - {name: ev, command: %q, args: [stdio]}
  - {name: ours, url: %q}
mcp:
  gateway:
    separator: "__"
    servers:
      ev: {mode: session}
`, testdata(t, "allow-all.cedar"), everything, ours))

	s := connect(t, base+"/mcp", "")
	names := toolNames(t, s)
	if !slices.Contains(names, "ev__echo") || !slices.Contains(names, "ours__test_simple_text") {
		t.Fatalf("tools = %v", names)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "ev__") && !strings.HasPrefix(n, "ours__") {
			t.Errorf("tool %q is not namespaced", n)
		}
	}
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "ev__echo", Arguments: map[string]any{"message": "hi"}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "hi") {
		t.Fatalf("ev__echo: %v %+v", err, res)
	}
	res, err = s.CallTool(context.Background(), &mcp.CallToolParams{Name: "ours__test_simple_text"})
	if err != nil || res.IsError {
		t.Fatalf("ours__test_simple_text: %v %+v", err, res)
	}
	if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "nosuch__echo"}); err == nil {
		t.Errorf("a tool of no server was called")
	}
	var prompts []string
	for p, err := range s.Prompts(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, p.Name)
	}
	if !slices.Contains(prompts, "ours__test_simple_prompt") {
		t.Errorf("prompts = %v", prompts)
	}
	if _, err := s.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "ours__test_simple_prompt"}); err != nil {
		t.Errorf("get prompt: %v", err)
	}

	// Resource URIs are named per server in lists and in results alike, so
	// what a result points to can be read through /mcp.
	var uris []string
	for r, err := range s.Resources(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, r.URI)
	}
	if !slices.Contains(uris, "ours__test://static-text") {
		t.Errorf("resources = %v", uris)
	}
	rr, err := s.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "ours__test://static-text"})
	if err != nil || len(rr.Contents) != 1 || rr.Contents[0].URI != "ours__test://static-text" {
		t.Errorf("read ours__test://static-text: %v %+v", err, rr)
	}
	res, err = s.CallTool(context.Background(), &mcp.CallToolParams{Name: "ours__test_embedded_resource"})
	if err != nil || res.IsError || len(res.Content) != 1 {
		t.Fatalf("ours__test_embedded_resource: %v %+v", err, res)
	}
	if e, ok := res.Content[0].(*mcp.EmbeddedResource); !ok || e.Resource.URI != "ours__test://embedded-resource" {
		t.Errorf("embedded resource in a tool result through /mcp: %+v", res.Content[0])
	}

	// The legacy HTTP+SSE transport, one server.
	client := mcp.NewClient(&mcp.Implementation{Name: "legacy", Version: "1"}, nil)
	ls, err := client.Connect(context.Background(), &mcp.SSEClientTransport{Endpoint: base + "/sse/ev"}, nil)
	if err != nil {
		t.Fatalf("legacy connect: %v", err)
	}
	defer ls.Close()
	res, err = ls.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "old"}})
	if err != nil || res.IsError {
		t.Fatalf("legacy echo: %v %+v", err, res)
	}

	for path, want := range map[string]string{
		"/metrics": `toolgate_decisions_total{effect="allow",server="ev",source="mcp",tool="echo"} 2`,
		"/readyz":  `"upstreams":"ok"`,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s lacks %s:\n%s", path, want, clipS(b.String(), 3000))
		}
	}
}

func clipS(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
