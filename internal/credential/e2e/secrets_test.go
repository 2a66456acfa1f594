package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/credential/scrub"
)

// Secrets of the test, each held by toolgate only.
const (
	fileSecret  = "sk-file-0123456789abcdef-FILE"   // from a file, sent as Authorization: Bearer
	vaultSecret = "sk-vault-0123456789abcdef-KV2"   // from Vault KV v2, sent as X-Api-Key
	envSecret   = "sk-env-0123456789abcdef-ENV"     // from toolgate's environment, into a stdio server's
	vaultToken  = "hvs.test-vault-token-0123456789" // toolgate's own Vault token
)

// vaultKV2 answers Vault's KV version 2 read API (GET /v1/<mount>/data/<path>)
// for one secret, as Vault does, and refuses any other token.
//
// A test double: no Vault server can run here (Vault is in none of the
// package registries this project can reach, and building it from the Go
// module proxy brings in its whole server). The client side is real: toolgate
// reads it with github.com/hashicorp/vault/api.
func vaultKV2(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vault-Token") != vaultToken {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
			return
		}
		if r.Method != http.MethodGet || r.URL.Path != "/v1/secret/data/github" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[]}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"request_id": "1", "lease_id": "", "renewable": false, "lease_duration": 0,
			"data": map[string]any{
				"data":     map[string]any{"api_key": vaultSecret},
				"metadata": map[string]any{"created_time": "2026-11-01T00:00:00Z", "deletion_time": "", "destroyed": false, "version": 3},
			},
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSecretsNeverLeak: toolgate brokers upstream secrets — a file and a
// Vault KV v2 secret as headers of a remote server, an environment variable
// into a stdio server's environment — and the upstreams get them, but
// neither the client (results, errors, tools/list), nor toolgate's logs
// (with the servers' stderr), nor the audit trail (or anything else in the
// data directory) ever holds one, even when the servers misbehave and echo
// them.
func TestSecretsNeverLeak(t *testing.T) {
	w := newWorld(t)
	w.env = []string{"TOOLGATE_E2E_SERVER=tools", "SECRET_SOURCE=" + envSecret, "VAULT_TOKEN=" + vaultToken}
	h := startHTTPTools(t, w.jwks(), githubAudience)
	secretFile := filepath.Join(w.dir, "github-token")
	if err := os.WriteFile(secretFile, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.write("", fmt.Sprintf(`principal: {kind: agent, id: researcher, owner: alice}
servers:
  - {name: github, url: %s}
  - {name: tools, command: %s}`, h.URL, os.Args[0]), fmt.Sprintf(`credentials:
  vault: {address: %s}
  servers:
    github:
      audience: %s
      secrets:
        - {header: X-Api-Key, from: {vault: {path: github, field: api_key}}}
        - {header: Authorization, prefix: "Bearer ", from: {file: %s}}
    tools:
      secrets:
        - {env: UPSTREAM_API_KEY, from: {env: SECRET_SOURCE}}`, vaultKV2(t), githubAudience, secretFile))
	w.serve()
	secrets := []string{fileSecret, vaultSecret, envSecret, vaultToken}
	var seenByClient []string

	// A remote server that echoes its headers.
	gh := w.connect("github")
	res := callTool(t, gh, "echo_key", map[string]any{})
	seenByClient = append(seenByClient, text(res))
	if !strings.Contains(text(res), "my API key is "+scrub.Mask) || !strings.Contains(text(res), "my bearer is Bearer "+scrub.Mask) {
		t.Fatalf("echo_key: %s", text(res))
	}
	ran := h.ranCalls()
	if got := ran[len(ran)-1]; got.Get("X-Api-Key") != vaultSecret || got.Get("Authorization") != "Bearer "+fileSecret || got.Get("Txn-Token") == "" {
		t.Fatalf("the upstream did not get its secrets and token: X-Api-Key %q, Authorization %q", got.Get("X-Api-Key"), got.Get("Authorization"))
	}
	// Every request to the server carries its key, not only tool calls:
	// initialize and tools/list need it as much.
	h.mu.Lock()
	requests := slices.Clone(h.requests)
	h.mu.Unlock()
	if len(requests) < 3 {
		t.Fatalf("requests: %q", requests)
	}
	for _, r := range requests {
		if !strings.HasSuffix(r, " "+vaultSecret) {
			t.Fatalf("a request to the server without its key: %q", requests)
		}
	}
	res = callTool(t, gh, "fail_key", map[string]any{})
	seenByClient = append(seenByClient, text(res))
	if !res.IsError || !strings.Contains(text(res), scrub.Mask) {
		t.Fatalf("fail_key: %s", text(res))
	}

	// A stdio server that puts its key in its tool list, its result and its
	// stderr, through serve and through run.
	wantSum := sha256.Sum256([]byte(envSecret))
	checkTools := func(name string, list, report string) {
		t.Helper()
		if !strings.Contains(list, "Key: "+scrub.Mask) {
			t.Errorf("%s: tools/list: %s", name, list)
		}
		if !strings.Contains(report, "key="+scrub.Mask) || !strings.Contains(report, "key_sha256="+hex.EncodeToString(wantSum[:])) {
			t.Errorf("%s: the server did not get its key, or the client saw it: %s", name, report)
		}
		if !strings.Contains(report, "source_visible=false vault_token_visible=false") {
			t.Errorf("%s: the server sees the variables toolgate reads secrets from: %s", name, report)
		}
	}
	for _, via := range []string{"serve", "run"} {
		s := w.connect("tools")
		if via == "run" {
			s = w.runSession("tools")
		}
		lr, err := s.ListTools(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		list, _ := json.Marshal(lr)
		report := text(callTool(t, s, "env_report", map[string]any{}))
		seenByClient = append(seenByClient, string(list), report)
		checkTools(via, string(list), report)
	}

	if found := containsAny(strings.Join(seenByClient, "\n"), secrets...); len(found) > 0 {
		t.Errorf("the client saw secrets: %q", found)
	}
	logs := w.logs()
	if !strings.Contains(logs, "env_report: my key is "+scrub.Mask) {
		t.Errorf("the stdio server's stderr did not come through (masked):\n%s", logs)
	}
	if found := containsAny(logs, secrets...); len(found) > 0 {
		t.Errorf("toolgate's logs hold secrets %q:\n%s", found, logs)
	}
	w.stopServe()
	audit := w.auditQuery()
	if !strings.Contains(audit, "echo_key") || !strings.Contains(audit, "env_report") {
		t.Fatalf("the audit trail lacks the calls:\n%s", audit)
	}
	if found := containsAny(audit, secrets...); len(found) > 0 {
		t.Errorf("the audit trail holds secrets %q", found)
	}
	// Nothing in the data directory (audit database, keys, pins, state).
	err := filepath.Walk(w.dataDir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if found := containsAny(string(b), secrets...); len(found) > 0 {
			t.Errorf("%s holds secrets %q", path, found)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpstreamRedirectLeaksNothing: an upstream that answers a tool call
// with a 307 to another host does not get the call re-sent there. The other
// host receives nothing (neither the brokered secret, nor the per-call
// token, nor the call's arguments); the agent gets an error; the call's
// outcome is recorded as an upstream failure.
func TestUpstreamRedirectLeaksNothing(t *testing.T) {
	w := newWorld(t)
	h := startHTTPTools(t, w.jwks(), githubAudience)
	var mu sync.Mutex
	var received []string
	thief := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, fmt.Sprintf("%s %v %s", r.Method, r.Header, b))
		mu.Unlock()
	}))
	defer thief.Close()
	secretFile := filepath.Join(w.dir, "github-token")
	if err := os.WriteFile(secretFile, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.write("", fmt.Sprintf(`servers:
  - {name: github, url: %s}`, h.URL), fmt.Sprintf(`credentials:
  servers:
    github:
      audience: %s
      secrets:
        - {header: X-Api-Key, from: {file: %s}}`, githubAudience, secretFile))
	w.serve()
	s := w.connect("github")
	to := strings.Replace(thief.URL, "127.0.0.1", "localhost", 1) + "/mcp"
	h.redirectTo.Store(&to)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "create_issue", Arguments: map[string]any{"title": "secret plans"}})
	if err == nil && !res.IsError {
		t.Fatalf("a call answered with a redirect succeeded: %s", text(res))
	}
	mu.Lock()
	if len(received) != 0 {
		t.Errorf("the redirect's target received %q", received)
	}
	mu.Unlock()
	if len(h.ranCalls()) != 0 {
		t.Fatal("the tool ran")
	}
	w.stopServe()
	audit := w.auditQuery()
	if !strings.Contains(audit, `"status":"upstream_failure"`) || !strings.Contains(audit, "redirect") {
		t.Fatalf("the audit trail does not record the refused redirect as an upstream failure:\n%s", audit)
	}
}
