// Package e2e tests per-call credentials end to end: the toolgate binary as
// `toolgate serve` (its MCP gateway, JWKS and audit trail) and `toolgate
// run`, driven by the official Go SDK client, in front of MCP servers built
// on the official Go SDK that check every call's token with the public
// verifier package (txntoken). The HTTP tool server runs in the test; the
// stdio one is this test binary (TOOLGATE_E2E_SERVER=tools).
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv("TOOLGATE_E2E_SERVER") == "tools" {
		stdioToolServer()
		return
	}
	os.Exit(m.Run())
}

// The agent's API key (identity.api_keys): Agent::"researcher" acting for
// alice.
const agentKey = "tgk_researcher_agent_0123456789abcdef0123"

// world is one data directory, its config and the toolgate processes on it.
type world struct {
	t       *testing.T
	dir     string
	dataDir string
	port    int
	base    string // serve's URL
	config  string // the config file
	env     []string
	out     []*testutil.SyncBuffer // every toolgate process's output (its logs)
	done    []chan struct{}        // closed when the process of the same index ends

	serveCmd  *exec.Cmd     // the running serve, if any
	serveDone chan struct{} // closed when it has ended
}

// newWorld picks serve's address and the data directory; env is added to
// the environment of the toolgate processes.
func newWorld(t *testing.T, env ...string) *world {
	w := &world{t: t, dir: t.TempDir(), env: env}
	w.dataDir = filepath.Join(w.dir, "data")
	w.port = testutil.FreePort(t)
	w.base = fmt.Sprintf("http://127.0.0.1:%d", w.port)
	return w
}

// jwks is toolgate's JWKS URL (served by `toolgate serve`).
func (w *world) jwks() string { return w.base + "/.well-known/jwks.json" }

// write writes the config: the agent's key, a policy that allows every
// call, the gateway's per-server settings, and the servers and credentials
// sections.
func (w *world) write(gatewayServers, servers, credentials string) {
	w.t.Helper()
	policies := filepath.Join(testutil.RepoRoot(w.t), "internal", "credential", "e2e", "testdata", "allow.cedar")
	if gatewayServers == "" {
		gatewayServers = "{}"
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
data_dir: %s
log: {level: debug}
mcp: {shutdown_timeout: 1s, gateway: {servers: %s}}
policy: {dirs: [%s], watch: false}
identity:
  api_keys:
    - {hash: %s, kind: agent, id: researcher, owner: alice}
%s
%s`, w.port, w.dataDir, gatewayServers, policies, identity.HashAPIKey(agentKey), servers, credentials)
	w.config = filepath.Join(w.dir, "toolgate.yaml")
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// start runs a toolgate command; it is stopped at cleanup, and its output
// shown if the test failed.
func (w *world) start(name string, args ...string) *exec.Cmd {
	w.t.Helper()
	out := &testutil.SyncBuffer{}
	w.out = append(w.out, out)
	cmd := exec.Command(testutil.Toolgate(w.t), append([]string{"--config", w.config}, args...)...)
	cmd.Env = append(os.Environ(), w.env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	w.done = append(w.done, done)
	w.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if w.t.Failed() {
			w.t.Logf("toolgate %s output:\n%s", name, out.String())
		}
	})
	return cmd
}

// serve starts `toolgate serve` and waits until it logs that it serves.
func (w *world) serve() {
	w.t.Helper()
	w.serveCmd = w.start("serve", "serve")
	out, done := w.out[len(w.out)-1], w.done[len(w.done)-1]
	w.serveDone = done
	if !out.WaitFor("toolgate serving", done) {
		w.t.Fatalf("toolgate serve ended before serving:\n%s", out.String())
	}
}

// stopServe stops serve (SIGINT) and waits for it to end: its trail is
// complete then (an outcome record may otherwise still wait to share the
// next commit).
func (w *world) stopServe() {
	w.t.Helper()
	_ = w.serveCmd.Process.Signal(os.Interrupt)
	<-w.serveDone
}

// logs is everything every toolgate process wrote.
func (w *world) logs() string {
	var b strings.Builder
	for _, o := range w.out {
		b.WriteString(o.String())
	}
	return b.String()
}

// auditQuery runs `toolgate audit query` with the filters and returns its
// output (the records as stored, one JSON object a line).
func (w *world) auditQuery(args ...string) string {
	w.t.Helper()
	cmd := exec.Command(testutil.Toolgate(w.t), append([]string{"--config", w.config, "audit", "query"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("toolgate audit query: %v\n%s", err, out)
	}
	return string(out)
}

type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// connect opens an MCP session with serve's /mcp/{server} as the agent.
func (w *world) connect(server string) *mcp.ClientSession {
	w.t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: w.base + "/mcp/" + server, HTTPClient: &http.Client{Transport: bearer{agentKey, http.DefaultTransport}}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, tr, nil)
	if err != nil {
		w.t.Fatalf("connect to %s: %v\n%s", server, err, w.logs())
	}
	w.t.Cleanup(func() { s.Close() })
	return s
}

func callTool(t *testing.T, s *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
