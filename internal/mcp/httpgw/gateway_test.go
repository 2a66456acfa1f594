package httpgw_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/identity"
	tgmcp "github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/httpgw"
	"github.com/toolgate/toolgate/internal/mcp/pin"
	"github.com/toolgate/toolgate/internal/mcp/upstream"
	"github.com/toolgate/toolgate/internal/policy"
)

// TestNoGoroutineLeaks runs the gateway in this process in front of a Go
// SDK server (also in this process), drives it with the Go SDK client —
// Streamable HTTP on /mcp/{server} and /mcp, calls side by side, a call
// whose answer comes as an event stream, a JSON-RPC batch, the legacy
// HTTP+SSE transport — shuts everything down, and checks that no goroutine
// is left behind. (The end-to-end tests run the toolgate binary, where
// goroutines cannot be counted.)
func TestNoGoroutineLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	// The upstream: a Go SDK server with a plain tool and one that logs
	// before it answers.
	srv := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
	type in struct {
		Text string `json:"text"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	// chatty reports progress before it answers, so its answer comes as an
	// event stream.
	mcp.AddTool(srv, &mcp.Tool{Name: "chatty"}, func(ctx context.Context, req *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 2})
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	upSrv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))

	// The gateway: an allow-all policy, pinned tools, a real JSONL audit
	// sink.
	dir := t.TempDir()
	set, err := policy.NewSet(policy.OrgLayer, []policy.Source{{Name: "all.cedar", Text: []byte(`@id("all") permit(principal, action, resource);`)}})
	if err != nil {
		t.Fatal(err)
	}
	pins, err := pin.Open(dir, "up")
	if err != nil {
		t.Fatal(err)
	}
	tools := gate.NewTools("up", pins, tgmcp.PinRefuse, nil)
	sink, err := audit.OpenJSONLFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := enforce.New(enforce.Config{Policies: policy.NewStaticEngine(set), Catalog: tools.Catalog(nil), Audit: sink,
		Identify: &identity.Stage{Default: &call.Principal{Kind: call.KindAgent, ID: "leaky"}}})
	if err != nil {
		t.Fatal(err)
	}
	gt, err := gate.New(gate.Options{Tools: tools, Pipeline: pipe})
	if err != nil {
		t.Fatal(err)
	}
	up, err := upstream.NewHTTP(upstream.HTTPOptions{Name: "up", URL: upSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := httpgw.New(httpgw.Options{Servers: []httpgw.Server{{Name: "up", Upstream: up, Gate: gt}}})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(gw.Handler(nil))

	clientTransport := &http.Transport{}
	hc := &http.Client{Transport: clientTransport}
	ctx := context.Background()
	progress := make(chan struct{}, 64) // a value per progress notification the client got
	client := mcp.NewClient(&mcp.Implementation{Name: "leak-test", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress <- struct{}{} },
	})
	for _, path := range []string{"/mcp/up", "/mcp"} {
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: front.URL + path, HTTPClient: hc}, nil)
		if err != nil {
			t.Fatalf("connect %s: %v", path, err)
		}
		name := func(tool string) string {
			if path == "/mcp" {
				return "up/" + tool
			}
			return tool
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tool := name("echo")
				if i%2 == 1 {
					tool = name("chatty")
				}
				p := &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": fmt.Sprint(i)}}
				p.SetProgressToken(fmt.Sprint("p", i))
				res, err := cs.CallTool(ctx, p)
				if err != nil || res.IsError {
					t.Errorf("%s %s: %v %+v", path, tool, err, res)
				}
			}()
		}
		wg.Wait()
		if err := cs.Close(); err != nil {
			t.Errorf("close %s: %v", path, err)
		}
	}

	// The client handles notifications on its own goroutine: wait for the
	// eight, one per chatty call (fewer hang until go test's timeout), then
	// check that no more came with them.
	for range 8 {
		<-progress
	}
	if n := len(progress); n != 0 {
		t.Errorf("%d progress notifications more than the 8 (one per chatty call)", n)
	}

	// A batch in a 2025-03-26 session, then the session's end.
	post := func(sid, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/mcp/up", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s", body, resp.StatusCode, b)
		}
		return resp
	}
	sid := post("", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`).Header.Get("Mcp-Session-Id")
	post(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	post(sid, `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}},{"jsonrpc":"2.0","id":2,"method":"ping"}]`)
	del, _ := http.NewRequest(http.MethodDelete, front.URL+"/mcp/up", nil)
	del.Header.Set("Mcp-Session-Id", sid)
	if resp, err := hc.Do(del); err == nil {
		resp.Body.Close()
	}

	// The legacy HTTP+SSE transport.
	ls, err := client.Connect(ctx, &mcp.SSEClientTransport{Endpoint: front.URL + "/sse/up", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("legacy connect: %v", err)
	}
	if res, err := ls.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "old"}}); err != nil || res.IsError {
		t.Errorf("legacy echo: %v %+v", err, res)
	}
	ls.Close()

	// Shut down as `toolgate serve` does: streams, then the listener, then
	// the gateway (sessions, upstreams), then the rest.
	gw.CloseStreams()
	front.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	upSrv.Close()
	clientTransport.CloseIdleConnections()
	if err := sink.Close(); err != nil {
		t.Error(err)
	}
}
