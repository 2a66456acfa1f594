// Package e2e tests human approval end to end: the toolgate binary as
// `toolgate run` (stdio, driven by the official Go SDK client) and as
// `toolgate serve` (its MCP gateway, admin API, AuthZEN API and approval
// links), in front of a scripted payment server (this test binary), with a
// webhook receiver in the test and the `toolgate approval` CLI. Processes
// share one data directory, as they would on a machine.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/testutil"
	"github.com/toolgate/toolgate/internal/testutil/banktest"
)

// TestMain lets the test binary be the payment server
// (TOOLGATE_E2E_SERVER=bank).
func TestMain(m *testing.M) {
	if os.Getenv("TOOLGATE_E2E_SERVER") == "bank" {
		banktest.Run(banktest.Server())
		return
	}
	os.Exit(m.Run())
}

// API keys of the test's people and agent (identity.api_keys).
const (
	keyCarol   = "tgk_carol_finance_0123456789abcdef0123"
	keyMallory = "tgk_mallory_nobody_0123456789abcdef012"
	keyBot     = "tgk_bot_agent_0123456789abcdef01234567"
)

// world is one data directory with its config, the payment log and a
// webhook receiver.
type world struct {
	t       *testing.T
	dir     string
	dataDir string
	bankLog string
	port    int
	base    string // serve's URL
	hooks   hookLog
	hookURL string
}

// hookLog keeps every webhook received, and lets the test wait for one: each
// pending approval is announced by a webhook, so the webhook is the signal
// that a call waits.
type hookLog struct {
	mu    sync.Mutex
	calls []hookCall
	more  chan struct{} // closed and replaced at each webhook
}

func (l *hookLog) add(h hookCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, h)
	if l.more != nil {
		close(l.more)
		l.more = nil
	}
}

// wait returns the first webhook that match accepts, waiting for it; a
// webhook that never comes is reported by go test's timeout.
func (l *hookLog) wait(match func(hookCall) bool) hookCall {
	for {
		l.mu.Lock()
		for _, h := range l.calls {
			if match(h) {
				l.mu.Unlock()
				return h
			}
		}
		if l.more == nil {
			l.more = make(chan struct{})
		}
		more := l.more
		l.mu.Unlock()
		<-more
	}
}

func (h hookCall) approvalID() string {
	a, _ := h.Payload["approval"].(map[string]any)
	id, _ := a["id"].(string)
	return id
}

type hookCall struct {
	Payload map[string]any
	Header  http.Header
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, dir: t.TempDir()}
	w.dataDir = filepath.Join(w.dir, "data")
	w.bankLog = filepath.Join(w.dir, "bank.log")
	w.port = testutil.FreePort(t)
	w.base = fmt.Sprintf("http://127.0.0.1:%d", w.port)
	recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var p map[string]any
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("webhook: %v", err)
		}
		w.hooks.add(hookCall{p, r.Header})
	}))
	t.Cleanup(recv.Close)
	w.hookURL = recv.URL
	return w
}

// config writes a config file (with extra YAML for approvals) and returns
// its path.
func (w *world) config(name, approvals string) string {
	w.t.Helper()
	policies := filepath.Join(testutil.RepoRoot(w.t), "internal", "approval", "e2e", "testdata", "bank.cedar")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
data_dir: %s
log: {level: debug}
mcp: {shutdown_timeout: 1s}
policy: {dirs: [%s], watch: false}
identity:
  api_keys:
    - {hash: %s, kind: user, id: carol, groups: [finance]}
    - {hash: %s, kind: user, id: mallory}
    - {hash: %s, kind: agent, id: bot, owner: alice}
servers:
  - {name: bank, command: %s}
approvals:
  poll_interval: 50ms
  public_url: %s
  webhooks: [{name: hook, url: %s, include_arguments: true}]
%s`, w.port, w.dataDir, policies, identity.HashAPIKey(keyCarol), identity.HashAPIKey(keyMallory), identity.HashAPIKey(keyBot), os.Args[0], w.base, w.hookURL, approvals)
	path := filepath.Join(w.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// env is the environment of toolgate and so of the payment server it
// starts.
func (w *world) env() []string {
	return append(os.Environ(), "TOOLGATE_E2E_SERVER=bank", "BANK_LOG="+w.bankLog)
}

// payments is what the payment server really did.
func (w *world) payments() []string {
	b, err := os.ReadFile(w.bankLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

// proc is a toolgate process.
type proc struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
}

// serve starts `toolgate serve` and waits until it says it serves (it logs
// that once its listener is bound).
func (w *world) serve(config string) *proc {
	w.t.Helper()
	p := w.start("serve", exec.Command(testutil.Toolgate(w.t), "--config", config, "serve"))
	if !p.out.WaitFor("toolgate serving", p.done) {
		w.t.Fatalf("serve ended before serving:\n%s", p.out.String())
	}
	return p
}

func (w *world) start(name string, cmd *exec.Cmd) *proc {
	p := &proc{cmd: cmd, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Env = w.env()
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	w.t.Cleanup(func() {
		p.stop()
		if w.t.Failed() {
			w.t.Logf("toolgate %s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop ends the process gracefully (SIGINT), as an operator would.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// run connects the Go SDK client to `toolgate run` in front of the payment
// server and returns the session and the toolgate process.
func (w *world) run(config string) (*mcp.ClientSession, *exec.Cmd) {
	w.t.Helper()
	return w.runWith(config, nil)
}

func (w *world) runWith(config string, opts *mcp.ClientOptions) (*mcp.ClientSession, *exec.Cmd) {
	w.t.Helper()
	cmd := exec.Command(testutil.Toolgate(w.t), "--config", config, "run", "--name", "bank", "--", os.Args[0])
	cmd.Env = w.env()
	logs := &testutil.SyncBuffer{}
	cmd.Stderr = logs
	client := mcp.NewClient(&mcp.Implementation{Name: "approval-e2e", Version: "1"}, opts)
	cs, err := client.Connect(context.Background(), &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}, nil)
	if err != nil {
		w.t.Fatalf("connect: %v\n%s", err, logs.String())
	}
	w.t.Cleanup(func() {
		cs.Close()
		if w.t.Failed() {
			w.t.Logf("toolgate run output:\n%s", logs.String())
		}
	})
	return cs, cmd
}

// cli runs `toolgate approval ARGS...` and returns its output.
func (w *world) cli(config string, args ...string) (string, error) {
	cmd := exec.Command(testutil.Toolgate(w.t), append([]string{"--config", config, "approval"}, args...)...)
	cmd.Env = w.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// api calls the admin API as the holder of key.
func (w *world) api(key, method, path string, body any) (int, map[string]any) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.base+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// pending waits for the webhook of a new approval (one not in seen) and
// returns that approval as carol sees it in the pending list, where it must
// be the only new one.
func (w *world) pending(seen ...string) map[string]any {
	w.t.Helper()
	id := w.hooks.wait(func(h hookCall) bool { return h.approvalID() != "" && !contains(seen, h.approvalID()) }).approvalID()
	status, out := w.api(keyCarol, "GET", "/v1/approvals", nil)
	if status != 200 {
		w.t.Fatalf("list: %d %v", status, out)
	}
	list, _ := out["approvals"].([]any)
	var fresh []map[string]any
	for _, a := range list {
		m := a.(map[string]any)
		if !contains(seen, m["id"].(string)) {
			fresh = append(fresh, m)
		}
	}
	if len(fresh) != 1 || fresh[0]["id"] != id {
		w.t.Fatalf("webhook of %s; new pending approvals: %v, want exactly that one", id, fresh)
	}
	return fresh[0]
}

// hook waits for the webhook of approval id.
func (w *world) hook(id string) hookCall {
	w.t.Helper()
	return w.hooks.wait(func(h hookCall) bool { return h.approvalID() == id })
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// callResult is a tools/call made in the background.
type callResult struct {
	res *mcp.CallToolResult
	err error
}

func pay(cs *mcp.ClientSession, amount int, to string) <-chan callResult {
	out := make(chan callResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "pay", Arguments: map[string]any{"amount": amount, "to": to}})
		out <- callResult{res, err}
	}()
	return out
}

func resultText(r callResult) string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	var parts []string
	for _, c := range r.res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	s := strings.Join(parts, "\n")
	if r.res.IsError {
		s = "denied: " + s
	}
	return s
}

func wait(t *testing.T, ch <-chan callResult) string {
	t.Helper()
	select {
	case r := <-ch:
		return resultText(r)
	case <-time.After(90 * time.Second):
		t.Fatal("the call did not end")
		return ""
	}
}
