package attack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/testutil"
)

const (
	frontBotKey   = "tgk_bot_agent_0123456789abcdef01234567"
	frontCarolKey = "tgk_carol_person_0123456789abcdef0123"
	frontSecret   = "hunter2-S3CRET-value-xyz"
)

const frontPolicies = `
@id("bot-reads") permit (principal == Agent::"bot", action == Action::"lax/read_file", resource);
@id("alice-all") permit (principal == User::"alice", action in [Action::"lax/read_file", Action::"lax/delete_file"], resource);
@id("bot-deletes") permit (principal == Agent::"bot", action == Action::"lax/delete_file", resource);
@id("deletes-need-a-person") @approval("deleting needs a person")
forbid (principal, action == Action::"lax/delete_file", resource);
@id("carol-answers") permit (principal == User::"carol", action == Action::"Approve", resource);
`

// TestFrontDoorAttacksOverServe sends what a web page, a DNS-rebinding
// page, a slow client and a curious caller can send to a local `toolgate
// serve`, on every route that acts:
//   - a foreign Host, a foreign Origin (another site, another loopback port,
//     "null"), and bodies a browser may send cross-site without asking
//     (text/plain, form, multipart): refused before anything is judged, so
//     the trail and the approval queue stay empty of them;
//   - a body that never finishes: refused when http.body_timeout ends, the
//     connection not held;
//   - an AuthZEN ask about another subject by an authenticated caller with
//     no Action::"Evaluate": denied, and the record names the caller;
//   - a secret-looking argument of a call that waits for approval: stored
//     and served redacted, in no file of the data directory in clear.
func TestFrontDoorAttacksOverServe(t *testing.T) {
	g := serveLax(t, frontPolicies, fmt.Sprintf(`identity:
  api_keys:
    - {hash: %s, kind: agent, id: bot, owner: alice}
    - {hash: %s, kind: user, id: carol}
http:
  body_timeout: 1s
`, identity.HashAPIKey(frontBotKey), identity.HashAPIKey(frontCarolKey)))
	base, port := g.base, g.port
	otherPort := testutil.FreePort(t)

	evaluation := `{"subject":{"type":"agent","id":"bot"},"action":{"name":"lax/delete_file"},"resource":{"type":"server","id":"lax"},"context":{"input":{"path":"/x"}}}`
	evaluations := `{"evaluations":[` + evaluation + `]}`
	mcpCall := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/x"}}}`
	routes := []struct{ path, body string }{
		{"/access/v1/evaluation", evaluation},
		{"/access/v1/evaluations", evaluations},
		{"/mcp/lax", mcpCall},
		{"/mcp", mcpCall},
	}
	type variant struct {
		name   string
		header map[string]string
		host   string
		want   int
	}
	variants := []variant{
		{"DNS rebinding (foreign Host)", nil, "attacker.example:" + fmt.Sprint(port), http.StatusForbidden},
		{"foreign Host without port", nil, "attacker.example", http.StatusForbidden},
		{"cross-site Origin", map[string]string{"Origin": "https://attacker.example"}, "", http.StatusForbidden},
		{"loopback Origin of another port", map[string]string{"Origin": fmt.Sprintf("http://127.0.0.1:%d", otherPort)}, "", http.StatusForbidden},
		{"localhost Origin of another port", map[string]string{"Origin": fmt.Sprintf("http://localhost:%d", otherPort)}, "", http.StatusForbidden},
		{"null Origin (sandboxed frame)", map[string]string{"Origin": "null"}, "", http.StatusForbidden},
		{"text/plain body (no preflight)", map[string]string{"Content-Type": "text/plain"}, "", http.StatusUnsupportedMediaType},
		{"text/plain with charset", map[string]string{"Content-Type": "text/plain; charset=utf-8"}, "", http.StatusUnsupportedMediaType},
		{"form body", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "", http.StatusUnsupportedMediaType},
		{"multipart body", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, "", http.StatusUnsupportedMediaType},
		{"no content type", map[string]string{"Content-Type": ""}, "", http.StatusUnsupportedMediaType},
	}
	for _, r := range routes {
		for _, v := range variants {
			req, _ := http.NewRequest(http.MethodPost, base+r.path, strings.NewReader(r.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+frontBotKey)
			for k, val := range v.header {
				if val == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, val)
				}
			}
			if v.host != "" {
				req.Host = v.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", r.path, v.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != v.want || !bytes.Contains(body, []byte("request.")) {
				t.Errorf("%s, %s: %d %s, want %d with a request.* code", r.path, v.name, resp.StatusCode, clip(string(body)), v.want)
			}
		}
	}
	for _, path := range []string{"/v1/approvals", "/v1/tasks"} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+frontCarolKey)
		req.Host = "attacker.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s with a foreign Host: %d, want 403", path, resp.StatusCode)
		}
	}

	// A body that never finishes: the door answers 408 (or drops the
	// connection) once body_timeout ends; the test waits for that, however
	// long it takes, instead of timing it.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /access/v1/evaluation HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: 4096\r\n\r\n{\"subject\":", port, frontBotKey)
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("a body that never ends: %d, want 408", resp.StatusCode)
		}
		resp.Body.Close()
	}
	conn.Close()

	// Asking about another subject without Action::"Evaluate".
	onBehalf := `{"subject":{"type":"user","id":"alice"},"action":{"name":"lax/read_file"},"resource":{"type":"server","id":"lax"},"context":{"input":{"path":"/x"}}}`
	status, out := frontPost(t, base+"/access/v1/evaluation", frontBotKey, onBehalf)
	if status != http.StatusOK || out["decision"] != false {
		t.Errorf("an ask about alice by bot, who may not ask for her: %d %v", status, out)
	}

	// A call that waits for approval, with a secret-looking argument: its
	// MCP client gives up, the approval stays pending.
	c := &mcpHTTP{t: t, url: base + "/mcp/lax", token: frontBotKey}
	c.post(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"front","version":"1"}}}`, http.StatusOK)
	c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, http.StatusAccepted)
	done := make(chan string, 1)
	go func() {
		done <- c.post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/x","db_password":"`+frontSecret+`","headers":{"X-Auth-Token":"`+frontSecret+`"}}}}`, 0)
	}()
	g.out.WaitFor("a call waits for approval", g.done)
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/approvals", nil)
	req.Header.Set("Authorization", "Bearer "+frontCarolKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(listed, []byte("delete_file")) {
		t.Errorf("the waiting call is not listed: %s", listed)
	}
	if bytes.Contains(listed, []byte(frontSecret)) {
		t.Errorf("GET /v1/approvals shows a secret argument in clear: %s", listed)
	}
	ex, ds := g.results(t)
	<-done
	_ = filepath.WalkDir(g.data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(frontSecret)) {
			t.Errorf("%s holds a secret argument in clear", path)
		}
		return nil
	})

	checkJudged(t, "front door", ex, ds)
	for _, e := range ex {
		if e.Kind == "call" {
			t.Errorf("a call reached the server: %s", e.Line)
		}
	}
	// Judged: the on-behalf ask and the waiting call, nothing the door
	// refused.
	if len(ds) != 2 {
		t.Errorf("%d decisions recorded, want 2 (the ask about alice, the waiting call): %+v", len(ds), ds)
	}
	raw, err := exec.Command(testutil.Toolgate(t), "--config", filepath.Join(g.dir, "audit.yaml"), "--data-dir", g.data, "audit", "query").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var rec struct {
			Type      string         `json:"type"`
			Principal map[string]any `json:"principal"`
			Caller    map[string]any `json:"caller"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.Type != "decision" {
			continue
		}
		if rec.Principal["id"] == "alice" && (rec.Caller == nil || rec.Caller["id"] != "bot") {
			t.Errorf("the ask about alice does not name its caller, bot: %s", line)
		}
	}
}

func frontPost(t *testing.T, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
