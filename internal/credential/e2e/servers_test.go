package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/txntoken"
)

type issueArgs struct {
	Title string `json:"title"`
}

type numberArgs struct {
	Number int `json:"number"`
}

// httpTools is a remote MCP server built on the Go SDK (Streamable HTTP)
// behind txntoken.Middleware: it runs a tool call only with a valid
// per-call token for exactly that call. In front of it is a proxy the test
// can tell to hold the next tool call — take its token and never deliver
// it — so a token can be tried against the server by the test itself.
type httpTools struct {
	t        *testing.T
	URL      string // what toolgate is configured with (through the proxy)
	Direct   string // the server itself
	verifier *txntoken.Verifier

	hold atomic.Bool
	held chan heldCall
	// redirectTo, when set, makes the proxy answer tool calls with a 307
	// to it (an upstream that points toolgate elsewhere).
	redirectTo atomic.Pointer[string]

	mu       sync.Mutex
	seen     []http.Header // headers of the tool calls the server ran
	requests []string      // method and X-Api-Key of every request that reached the proxy
}

type heldCall struct {
	Token string
	Body  []byte
}

// startHTTPTools starts the server; jwks is toolgate's JWKS URL (serve
// need not be up yet: keys are fetched at the first token).
func startHTTPTools(t *testing.T, jwks, audience string) *httpTools {
	v, err := txntoken.New(txntoken.Options{JWKSURL: jwks, Audience: audience, Leeway: -1})
	if err != nil {
		t.Fatal(err)
	}
	h := &httpTools{t: t, verifier: v, held: make(chan heldCall, 8)}
	s := mcp.NewServer(&mcp.Implementation{Name: "github", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "create_issue", Description: "Create an issue."},
		func(ctx context.Context, req *mcp.CallToolRequest, a issueArgs) (*mcp.CallToolResult, any, error) {
			return h.ran(ctx, req, "created issue "+a.Title)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "close_issue", Description: "Close an issue."},
		func(ctx context.Context, req *mcp.CallToolRequest, a numberArgs) (*mcp.CallToolResult, any, error) {
			return h.ran(ctx, req, fmt.Sprintf("closed issue %d", a.Number))
		})
	// echo_key and fail_key misbehave on purpose: they hand the API key the
	// server was given back to whoever called, in a result and in an error.
	mcp.AddTool(s, &mcp.Tool{Name: "echo_key", Description: "Say which API key this server got."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return h.ran(ctx, req, "my API key is "+req.Extra.Header.Get("X-Api-Key")+" and my bearer is "+req.Extra.Header.Get("Authorization"))
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail_key", Description: "Fail, quoting the API key."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, fmt.Errorf("upstream API refused key %q", req.Extra.Header.Get("X-Api-Key"))
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := httptest.NewServer(v.Middleware(handler))
	t.Cleanup(srv.Close)
	h.Direct = srv.URL + "/mcp"

	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests = append(h.requests, r.Method+" "+r.Header.Get("X-Api-Key"))
		h.mu.Unlock()
		if to := h.redirectTo.Load(); to != nil && r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"tools/call"`)) {
				http.Redirect(w, r, *to, http.StatusTemporaryRedirect)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if r.Method == http.MethodPost && h.hold.Load() {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"tools/call"`)) {
				h.held <- heldCall{Token: txntoken.TokenFrom(r.Header), Body: body}
				http.Error(w, "held by the test", http.StatusServiceUnavailable)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	h.URL = front.URL + "/mcp"
	return h
}

// ran reports a tool call the server ran: with the claims of the token the
// middleware verified for it.
func (h *httpTools) ran(ctx context.Context, req *mcp.CallToolRequest, what string) (*mcp.CallToolResult, any, error) {
	h.mu.Lock()
	h.seen = append(h.seen, req.Extra.Header.Clone())
	h.mu.Unlock()
	c, err := h.verifier.Parse(ctx, txntoken.TokenFrom(req.Extra.Header))
	if err != nil {
		// Cannot happen behind the middleware: it is the point of the test.
		return nil, nil, fmt.Errorf("ran without a valid token: %v", err)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{
		Text: fmt.Sprintf("%s; sub=%s req_wl=%s scope=%s txn=%s jti=%s", what, c.Subject, c.RequestingWorkload, c.Scope, c.Txn, c.ID),
	}}}, nil, nil
}

func (h *httpTools) ranCalls() []http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]http.Header(nil), h.seen...)
}

// postCall sends a tools/call straight to the server with a token, as an
// attacker who got hold of one would; it returns the HTTP status and body.
func (h *httpTools) postCall(t *testing.T, token, tool string, args any) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args},
	})
	req, _ := http.NewRequest(http.MethodPost, h.Direct, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	req.Header.Set(txntoken.HeaderName, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// holdNext makes the proxy hold the next tool call, runs call, and returns
// the held call's token (the call itself failed: the server never got it).
func (h *httpTools) holdNext(t *testing.T, call func()) heldCall {
	t.Helper()
	h.hold.Store(true)
	defer h.hold.Store(false)
	call()
	select {
	case c := <-h.held:
		if c.Token == "" {
			t.Fatal("the held call carries no token")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no tool call reached the proxy")
	}
	return heldCall{}
}

// stdioToolServer is the stdio MCP server of the tests (this binary with
// TOOLGATE_E2E_SERVER=tools), on the Go SDK. create_issue checks its call's
// token from params._meta with the verifier (toolgate's JWKS at
// $TXN_JWKS); env_report misbehaves on purpose and leaks the API key it got
// in its environment: in its tool description, its result, and on stderr.
func stdioToolServer() {
	key := os.Getenv("UPSTREAM_API_KEY")
	s := mcp.NewServer(&mcp.Implementation{Name: "tools", Version: "1"}, nil)
	var v *txntoken.Verifier
	if jwks := os.Getenv("TXN_JWKS"); jwks != "" {
		var err error
		if v, err = txntoken.New(txntoken.Options{JWKSURL: jwks, Audience: os.Getenv("TXN_AUDIENCE")}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	mcp.AddTool(s, &mcp.Tool{Name: "create_issue", Description: "Create an issue."},
		func(ctx context.Context, req *mcp.CallToolRequest, a issueArgs) (*mcp.CallToolResult, any, error) {
			if v == nil {
				return nil, nil, fmt.Errorf("no verifier")
			}
			token, _ := req.Params.Meta[txntoken.MetaKey].(string)
			c, err := v.Verify(ctx, token, req.Params.Name, req.Params.Arguments)
			if err != nil {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "rejected: " + err.Error()}}}, nil, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{
				Text: fmt.Sprintf("created issue %s; sub=%s req_wl=%s scope=%s txn=%s jti=%s", a.Title, c.Subject, c.RequestingWorkload, c.Scope, c.Txn, c.ID),
			}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "env_report", Description: "Reports its environment. Key: " + key},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			fmt.Fprintf(os.Stderr, "env_report: my key is %s\n", key)
			sum := sha256.Sum256([]byte(key))
			_, srcVisible := os.LookupEnv("SECRET_SOURCE")
			_, vaultVisible := os.LookupEnv("VAULT_TOKEN")
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(
				"key=%s key_sha256=%s source_visible=%v vault_token_visible=%v",
				key, hex.EncodeToString(sum[:]), srcVisible, vaultVisible)}}}, nil, nil
		})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		os.Exit(1)
	}
}

// containsAny reports which of the secrets s contains.
func containsAny(s string, secrets ...string) []string {
	var found []string
	for _, x := range secrets {
		if strings.Contains(s, x) {
			found = append(found, x)
		}
	}
	return found
}
