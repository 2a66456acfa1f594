package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/mcp/httpgw"
	"github.com/toolgate/toolgate/internal/server/auth"
	"github.com/toolgate/toolgate/internal/task"
	"github.com/toolgate/toolgate/internal/testutil"
)

// TestServeQuickStart runs the README's main command: `toolgate serve` with
// no configuration, in a fresh data directory, and uses it.
func TestServeQuickStart(t *testing.T) {
	bin := testutil.Toolgate(t)
	dataDir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TOOLGATE_DATA_DIR="+dataDir)
	base := startServe(t, cmd)

	get := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 200 {
		t.Fatal("not healthy")
	}
	eval := func(body string) map[string]any {
		resp, err := http.Post(base+"/access/v1/evaluation", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// The built-in policies: read-only tools are allowed, others need a human.
	ro := eval(`{"subject":{"type":"agent","id":"a"},"action":{"name":"fs/read_file","properties":{"annotations":{"readOnlyHint":true}}},"resource":{"type":"server","id":"fs"}}`)
	if ro["decision"] != true {
		t.Fatalf("read-only call: %v", ro)
	}
	rw := eval(`{"subject":{"type":"agent","id":"a"},"action":{"name":"fs/write_file"},"resource":{"type":"server","id":"fs"}}`)
	if rw["decision"] != false || rw["context"].(map[string]any)["effect"] != "ask" {
		t.Fatalf("destructive call: %v", rw)
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) == 0 {
		t.Fatal("nothing written to the data directory (audit trail)")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A serve that does not stop hangs here until go test's own timeout,
	// which fails the test with every goroutine's stack: no clock here.
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM", err)
	}
}

// startServe starts `toolgate serve` (cmd, listening on port 0) and
// returns the base URL it reports. The process is killed when the test
// ends, if it still runs.
func startServe(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	urlRe := regexp.MustCompile(`url=(http://\S+)`)
	lines := bufio.NewScanner(stderr)
	// Until serve says where it listens, or exits (end of its stderr).
	var base string
	for lines.Scan() {
		if m := urlRe.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatal("serve exited without reporting its address")
	}
	go io.Copy(io.Discard, stderr)
	return base
}

// serveWarnings starts `toolgate serve` with the config text and returns
// its log up to the line that says it serves.
func serveWarnings(t *testing.T, listen, cfgText string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "toolgate.yaml"), cfgText)
	cmd := exec.Command(testutil.Toolgate(t), "serve", "--listen", listen, "--data-dir", filepath.Join(dir, "data"))
	cmd.Dir = dir
	cmd.Env = cleanEnv(t)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var log strings.Builder
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "toolgate serving") {
			return log.String()
		}
	}
	t.Fatalf("serve did not start:\n%s", log.String())
	return ""
}

// serve warns where a setup runs but is not what people think: open to the
// network without authentication; an MCP gateway whose every caller is
// unauthenticated and so sees no tools.
func TestServeWarnings(t *testing.T) {
	const open = "serve listens on an address that is not loopback and no identity is configured"
	const noTools = "every MCP caller is unauthenticated, so tools/list shows no tools"
	servers := "servers:\n  - {name: cat, command: cat}\n"
	if log := serveWarnings(t, "0.0.0.0:0", "{}\n"); !strings.Contains(log, open) || strings.Contains(log, noTools) {
		t.Errorf("non-loopback without identity:\n%s", log)
	}
	if log := serveWarnings(t, "127.0.0.1:0", servers); strings.Contains(log, open) || !strings.Contains(log, noTools) {
		t.Errorf("gateway without identity or principal:\n%s", log)
	}
	if log := serveWarnings(t, "127.0.0.1:0", servers+"principal: {id: local-agent}\n"); strings.Contains(log, "level=WARN") {
		t.Errorf("loopback with a default principal:\n%s", log)
	}
}

// Every route serve mounts is listed by `serve --help` and in
// docs/gateway.md.
func TestServeEndpointsAreDocumented(t *testing.T) {
	routes := append([]string(nil), httpgw.Routes...)
	for p := range (*task.Service)(nil).Routes() {
		routes = append(routes, p)
	}
	for p := range (*approval.Service)(nil).Routes() {
		routes = append(routes, p)
	}
	routes = append(routes, "POST /access/v1/evaluation", "POST /access/v1/evaluations", "GET /.well-known/authzen-configuration",
		"GET /.well-known/jwks.json", "GET "+auth.MetadataPath, "GET /metrics", "GET /healthz", "GET /readyz")
	_, help, _ := toolgateBin(t, "", nil, "serve", "--help")
	doc := string(must(os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docs", "gateway.md"))))
	for _, r := range routes {
		_, path, ok := strings.Cut(r, " ")
		if !ok {
			path = r
		}
		if !strings.Contains(help, path) {
			t.Errorf("serve --help does not list %s", r)
		}
		if !strings.Contains(doc, path) {
			t.Errorf("docs/gateway.md does not list %s", r)
		}
	}
}
