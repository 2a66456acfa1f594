package attack

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/testutil"
)

// TestHTTPAttacks sends every attack through `toolgate serve`'s gateway to
// the lax server, run shared by every session (/mcp/lax) and one process
// per session (/mcp/laxs), each attack in a session of its own, and checks
// the property over everything the servers carried out.
func TestHTTPAttacks(t *testing.T) {
	dir := t.TempDir()
	execPath := filepath.Join(dir, "exec")
	port := testutil.FreePort(t)
	config := filepath.Join(dir, "config.yaml")
	policies, err := os.ReadFile(filepath.Join(testdata(t, "policies"), "attack.cedar"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The same rule for the server run per session.
	both := string(policies) + "\n" + strings.ReplaceAll(strings.ReplaceAll(string(policies), "lax/", "laxs/"), `@id("`, `@id("s-`)
	if err := os.WriteFile(filepath.Join(dir, "policies", "attack.cedar"), []byte(both), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
principal: {id: attacker}
policy:
  dirs: [%q]
servers:
  - {name: lax, command: %q}
  - {name: laxs, command: %q}
mcp:
  shutdown_timeout: 2s
  gateway:
    servers:
      lax: {mode: shared}
      laxs: {mode: session}
log:
  level: debug
`, port, filepath.Join(dir, "policies"), os.Args[0], os.Args[0])
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(testutil.Toolgate(t), "--config", config, "--data-dir", data, "serve")
	cmd.Env = append(os.Environ(), "ATTACK_SERVER=lax", "ATTACK_EXEC="+execPath)
	srv := startServe(t, cmd)
	out := srv.out
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := srv.stop(); err != nil {
			t.Errorf("toolgate serve: %v", err)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("toolgate serve's output:\n%s", out.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

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
	stop()
	config2 := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(config2, []byte("log:\n  level: error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds := trail(t, config2, data)
	checkJudged(t, "HTTP", readExecuted(t, execPath), ds)
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

// served is a running `toolgate serve`.
type served struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{} // closed when the process has ended
	err  error         // its exit, once done is closed
}

// startServe starts cmd (a `toolgate serve`) and waits until it logs that
// it serves: its listener is bound then.
func startServe(t *testing.T, cmd *exec.Cmd) *served {
	t.Helper()
	s := &served{cmd: cmd, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	if !s.out.WaitFor("toolgate serving", s.done) {
		t.Fatalf("toolgate serve ended before serving: %v\n%s", s.err, s.out.String())
	}
	return s
}

// stop ends the process as an orchestrator would (SIGTERM) and returns its
// exit; calling it again returns the same.
func (s *served) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	return s.err
}
