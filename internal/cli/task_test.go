package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/testutil"
)

func taskCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// TestTaskCLIAndCheck: tasks made with `toolgate task` are enforced by
// `toolgate check` (context.task_token), delegation narrows, revocation of
// the root denies the child at once.
func TestTaskCLIAndCheck(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	pol := filepath.Join(dir, "all.cedar")
	if err := os.WriteFile(pol, []byte(`@id("all") permit(principal, action, resource);`), 0o600); err != nil {
		t.Fatal(err)
	}
	dd := "--data-dir=" + data
	root, stderr, code := taskCLI(t, "", dd, "task", "create", "--agent", "orchestrator", "--owner", "alice",
		"--purpose", "triage", "--tool", "fs/*", "--tool", "web/fetch", "--budget", "5")
	if code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	root = strings.TrimSpace(root)
	child, stderr, code := taskCLI(t, root, dd, "task", "delegate", "--token", "-", "--agent", "researcher", "--tool", "fs/read_file", "--ttl", "10m")
	if code != 0 {
		t.Fatalf("delegate: %d %s", code, stderr)
	}
	child = strings.TrimSpace(child)
	_, stderr, code = taskCLI(t, root, dd, "task", "delegate", "--token", "-", "--agent", "researcher", "--tool", "mail/send")
	if code == 0 || !strings.Contains(stderr, "mail/send") || !strings.Contains(stderr, "wider") {
		t.Fatalf("widening: %d %s", code, stderr)
	}

	check := func(agent, action, tok string) map[string]any {
		t.Helper()
		req, _ := json.Marshal(map[string]any{
			"subject": map[string]any{"type": "agent", "id": agent}, "action": map[string]any{"name": action},
			"resource": map[string]any{"type": "server", "id": strings.Split(action, "/")[0]},
			"context":  map[string]any{"task_token": tok},
		})
		out, stderr, code := taskCLI(t, string(req), dd, "check", "--policy", pol, "-")
		if code != 0 {
			t.Fatalf("check: %d %s", code, stderr)
		}
		var resp map[string]any
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := check("researcher", "fs/read_file", child); r["decision"] != true {
		t.Fatalf("child in scope: %v", r)
	}
	r := check("researcher", "fs/write_file", child)
	if r["decision"] != false || !strings.HasPrefix(r["context"].(map[string]any)["layer"].(string), "hop1:") {
		t.Fatalf("child out of scope: %v", r)
	}
	if r := check("orchestrator", "fs/read_file", child); r["decision"] != false {
		t.Fatalf("token of another agent: %v", r)
	}

	list, _, _ := taskCLI(t, "", dd, "task", "list")
	if !strings.Contains(list, "orchestrator for alice") || !strings.Contains(list, "└─ ") || !strings.Contains(list, "researcher") {
		t.Fatalf("list:\n%s", list)
	}
	var rootID string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "orchestrator") {
			rootID = strings.Fields(line)[0]
		}
	}
	out, stderr, code := taskCLI(t, "", dd, "task", "revoke", rootID, "--reason", "incident over")
	if code != 0 || strings.Count(out, "revoked ") != 2 {
		t.Fatalf("revoke: %d %s %s", code, out, stderr)
	}
	r = check("researcher", "fs/read_file", child)
	reasons, _ := json.Marshal(r["context"])
	if r["decision"] != false || !strings.Contains(string(reasons), "task.revoked") || !strings.Contains(string(reasons), "incident over") {
		t.Fatalf("after revocation: %v", r)
	}
	list, _, _ = taskCLI(t, "", dd, "task", "list")
	if !strings.Contains(list, "revoked: incident over") || !strings.Contains(list, "revoked with "+rootID) {
		t.Fatalf("list after revocation:\n%s", list)
	}
}

// TestServeTaskAPI drives the toolgate binary: JWKS, and the task API with
// an API key.
func TestServeTaskAPI(t *testing.T) {
	bin := testutil.Toolgate(t)
	dir := t.TempDir()
	key := "tgk_" + strings.Repeat("z", 32)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`listen: 127.0.0.1:0
identity:
  api_keys:
    - {hash: "`+identity.HashAPIKey(key)+`", id: ops-bot, kind: agent, owner: alice}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := ""
	sc := bufio.NewScanner(stderr)
	deadline := time.Now().Add(20 * time.Second)
	for url == "" && time.Now().Before(deadline) && sc.Scan() {
		if i := strings.Index(sc.Text(), "url=http://"); i >= 0 {
			url = strings.Fields(sc.Text()[i+4:])[0]
		}
	}
	if url == "" {
		t.Fatal("serve did not start")
	}
	go func() {
		for sc.Scan() {
		}
	}()

	resp, err := http.Get(url + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if len(jwks.Keys) != 1 || jwks.Keys[0]["alg"] != "EdDSA" || jwks.Keys[0]["d"] != nil {
		t.Fatalf("jwks: %v", jwks)
	}

	body := `{"purpose": "rotate certificates", "ttl": "30m", "scope": {"tools": ["pki/*"]}}`
	req, _ := http.NewRequest("POST", url+"/v1/tasks", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || created["task"].(map[string]any)["agent"] != "ops-bot" || created["task"].(map[string]any)["owner"] != "alice" {
		t.Fatalf("create: %d %v", resp.StatusCode, created)
	}
	// Unauthenticated requests are refused.
	resp, err = http.Post(url+"/v1/tasks", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated create: %d", resp.StatusCode)
	}
	// The task token is honoured by the gateway's AuthZEN API, bound to its
	// agent.
	tok := created["task_token"].(string)
	eval := func(agent, action string) bool {
		b, _ := json.Marshal(map[string]any{"subject": map[string]any{"type": "agent", "id": agent},
			"action": map[string]any{"name": action}, "resource": map[string]any{"type": "server", "id": strings.Split(action, "/")[0]},
			"context": map[string]any{"task_token": tok}})
		resp, err := http.Post(url+"/access/v1/evaluation", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out["decision"] == true
	}
	if eval("ops-bot", "mail/send") || eval("other", "pki/issue") {
		t.Fatal("a call outside the task or by another agent was allowed")
	}
}
