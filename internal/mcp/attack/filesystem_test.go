package attack

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

// fsAttacks are attempts to write a file through the real
// @modelcontextprotocol/server-filesystem, whose policy allows reading
// only. pwned is where the file would land.
func fsAttacks(ws string) []string {
	pwned := filepath.Join(ws, "pwned")
	write := `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"` + pwned + `","content":"x"}}}`
	writeN := `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"write_file","arguments":{"path":"` + pwned + `","content":"x"}}}`
	read := func(extra string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":"` + filepath.Join(ws, "a.txt") + `"}` + extra + `}}`
	}
	return []string{
		writeN,
		strings.Replace(writeN, `"tools/call"`, `"tools\/call"`, 1),
		read(`,"z":[` + "\r" + write + "\r" + `]`),
		read(`,"NAME":"write_file"`),
		`{"jsonrpc":"2.0","id":8,"method":"ping","params":{"z":[` + "\r" + write + "\r" + `]}}`,
	}
}

// fsHTTPAttacks hold raw line feeds, which only an HTTP body can carry.
func fsHTTPAttacks(ws string) []string {
	pwned := filepath.Join(ws, "pwned")
	write := `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"` + pwned + `","content":"x"}}}`
	return []string{
		`{"jsonrpc":"2.0","method":"notifications/initialized","params":{"z":[` + "\n" + write + "\n" + `]}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1,"z":[` + "\n" + write + "\n" + `]}}`,
		`{"jsonrpc":"2.0","id":9,"method":"ping","params":{"z":[` + "\r\n" + write + "\r\n" + `]}}`,
	}
}

func fsWorkspace(t *testing.T) (ws, policies string) {
	t.Helper()
	ws, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "a.txt"), []byte("alpha\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	policies = filepath.Join(t.TempDir(), "fs.cedar")
	rule := `@id("fs-reads") permit (principal, action == Action::"fs/read_text_file", resource);`
	if err := os.WriteFile(policies, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	return ws, policies
}

func TestFilesystemAttacksOverStdio(t *testing.T) {
	server := testutil.NodeBin(t, "mcp-server-filesystem")
	ws, policies := fsWorkspace(t)
	dir := t.TempDir()
	cmd := exec.Command(testutil.Toolgate(t), "--config", testdata(t, "config.yaml"), "--data-dir", filepath.Join(dir, "data"),
		"run", "--policy", policies, "--name", "fs", "--", server, ws)
	runLines(t, cmd, "2025-06-18", fsAttacks(ws))
	if _, err := os.Stat(filepath.Join(ws, "pwned")); !os.IsNotExist(err) {
		t.Fatalf("a write reached server-filesystem: %v", err)
	}
	ds := trail(t, testdata(t, "config.yaml"), filepath.Join(dir, "data"))
	if n := refusedAsNotification(ds); n != 2 {
		t.Errorf("%d refusals of tools/call notifications recorded, want 2", n)
	}
	for _, d := range ds {
		if d.Effect == "allow" && d.Tool != "read_text_file" {
			t.Errorf("allowed %s", d.Tool)
		}
	}
}

func TestFilesystemAttacksOverHTTP(t *testing.T) {
	server := testutil.NodeBin(t, "mcp-server-filesystem")
	ws, policies := fsWorkspace(t)
	dir := t.TempDir()
	port := testutil.FreePort(t)
	config := filepath.Join(dir, "config.yaml")
	for _, mode := range []string{"shared", "session"} {
		cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nprincipal: {id: attacker}\npolicy:\n  dirs: [%q]\nservers:\n  - {name: fs, command: %q, args: [%q]}\nmcp:\n  gateway:\n    servers:\n      fs: {mode: %s}\n",
			port, policies, server, ws, mode)
		if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		data := filepath.Join(dir, "data-"+mode)
		cmd := exec.Command(testutil.Toolgate(t), "--config", config, "--data-dir", data, "serve")
		srv := startServe(t, cmd)
		out := srv.out
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		for _, body := range append(fsAttacks(ws), fsHTTPAttacks(ws)...) {
			c := &mcpHTTP{t: t, url: base + "/mcp/fs"}
			c.post(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"attack","version":"1"}}}`, http.StatusOK)
			c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, http.StatusAccepted)
			c.post(body, 0)
			c.post(`{"jsonrpc":"2.0","id":"end","method":"ping"}`, http.StatusOK)
			c.end()
		}
		if err := srv.stop(); err != nil {
			t.Errorf("toolgate serve (%s): %v\n%s", mode, err, out.String())
		}
		if _, err := os.Stat(filepath.Join(ws, "pwned")); !os.IsNotExist(err) {
			t.Fatalf("%s: a write reached server-filesystem: %v\n%s", mode, err, out.String())
		}
		ds := trail(t, testdata(t, "config.yaml"), data)
		if n := refusedAsNotification(ds); n != 2 {
			t.Errorf("%s: %d refusals of tools/call notifications recorded, want 2", mode, n)
		}
	}
}
