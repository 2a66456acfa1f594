package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/pin"
)

func TestDeriveServerName(t *testing.T) {
	tests := []struct {
		cmd  string
		want string
	}{
		{"npx -y @modelcontextprotocol/server-filesystem /data", "filesystem"},
		{"npx -y @modelcontextprotocol/server-everything@2026.8.31 stdio", "everything"},
		{"/opt/node_modules/.bin/mcp-server-filesystem /tmp/ws", "filesystem"},
		{"uvx mcp-server-git --repository .", "git"},
		{"python3 -m mcp_server_time", "time"},
		{"node build/index.js", "index"},
		{"docker run -i --rm -e TOKEN=x mcp/github", "github"},
		{"pnpm dlx @scope/postgres-mcp-server postgres://db", "postgres"},
		{"bunx weather-mcp", "weather"},
		{"./My Tool.sh", "my-tool"},
		{"npx", "npx"},
		{"mcp", "mcp"},
		{"npx -y ___", "server"},
		{"C:\\tools\\mcp-server-fetch.exe", "fetch"},
	}
	for _, tt := range tests {
		if got := DeriveServerName(strings.Fields(strings.ReplaceAll(tt.cmd, "My Tool", "My_Tool"))); got != tt.want {
			t.Errorf("DeriveServerName(%q) = %q, want %q", tt.cmd, got, tt.want)
		}
	}
}

func TestRunTarget(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(`
servers:
  - name: fs
    command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", /data]
  - name: remote
    url: https://mcp.example/
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		command []string
		server  string
		err     string
	}{
		{"", []string{"npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"}, nil, "fs", ""},
		{"", []string{"npx", "-y", "@modelcontextprotocol/server-filesystem", "/other"}, nil, "filesystem", ""},
		{"files", []string{"mcp-server-filesystem", "/data"}, nil, "files", ""},
		{"fs", nil, []string{"npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"}, "fs", ""},
		{"", nil, nil, "", "needs the MCP server's command"},
		{"remote", nil, nil, "", `no server "remote" with a command`},
		{"a/b", []string{"x"}, nil, "", `contains "/"`},
		{"CallTool", []string{"x"}, nil, "", "reserved"},
	}
	for _, tt := range tests {
		command, server, err := runTarget(cfg, tt.name, tt.args)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("runTarget(%q, %q) error = %v, want %q", tt.name, tt.args, err, tt.err)
			}
			continue
		}
		want := tt.command
		if want == nil {
			want = tt.args
		}
		if err != nil || server != tt.server || !slices.Equal(command, want) {
			t.Errorf("runTarget(%q, %q) = %q, %q, %v; want %q, %q", tt.name, tt.args, command, server, err, want, tt.server)
		}
	}
}

func TestRunPrincipal(t *testing.T) {
	p := runPrincipal(config.Default())
	if p.Kind != call.KindAgent || p.ID != LocalPrincipalID || p.Owner == "" {
		t.Errorf("default principal = %+v", p)
	}
	cfg, err := config.Parse("t.yaml", []byte("principal: {kind: user, id: bob, groups: [dev], owner: bob}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := runPrincipal(cfg); p.Kind != call.KindUser || p.ID != "bob" || !slices.Equal(p.Groups, []string{"dev"}) {
		t.Errorf("configured principal = %+v", p)
	}
}

func TestServerEnvDropsTheTaskToken(t *testing.T) {
	t.Setenv(TaskTokenEnv, "secret-task-token")
	t.Setenv("KEEP_ME", "1")
	env := strings.Join(serverEnv(), "\n")
	if strings.Contains(env, "secret-task-token") || !strings.Contains(env, "KEEP_ME=1") {
		t.Errorf("server environment:\n%s", env)
	}
}

func TestMCPConfigSection(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("mcp:\n  denial: error\n  pinning: warn\n  max_message_bytes: 65536\n  shutdown_timeout: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := mcp.Config{Denial: "error", Pinning: "warn", MaxMessageBytes: 65536, MaxResponseBytes: mcp.DefaultMaxResponseBytes,
		MaxDepth: mcp.DefaultMaxDepth, ShutdownTimeout: 2 * time.Second}
	want.Gateway.Separator, want.Gateway.SessionIdleTimeout, want.Gateway.RequestTimeout = "/", 30*time.Minute, 5*time.Minute
	want.Gateway.MaxSessions, want.Gateway.MaxSessionsPerPrincipal = mcp.DefaultMaxSessions, mcp.DefaultMaxSessionsPerPrincipal
	if !reflect.DeepEqual(cfg.MCP, want) {
		t.Errorf("mcp = %+v", cfg.MCP)
	}
	_, err = config.Parse("t.yaml", []byte("mcp:\n  denial: silently\n  max_dept: 3\n"))
	if err == nil || !strings.Contains(err.Error(), "max_dept") {
		t.Errorf("unknown key: %v", err)
	}
	_, err = config.Parse("t.yaml", []byte("mcp:\n  denial: silently\n"))
	if err == nil || !strings.Contains(err.Error(), "mcp.denial") {
		t.Errorf("bad value: %v", err)
	}
}

func TestRunUsage(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"run"}, strings.NewReader(""), &out, &errb)
	if code != ExitUsage || !strings.Contains(errb.String(), "needs the MCP server's command") || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

func TestPinCommands(t *testing.T) {
	dir := t.TempDir()
	s, _ := pin.Open(dir, "fs")
	d1, _ := pin.Define(json.RawMessage(`{"name":"read","description":"v1"}`))
	d2, _ := pin.Define(json.RawMessage(`{"name":"read","description":"v2"}`))
	s.Check([]pin.Definition{d1})
	s.Check([]pin.Definition{d2})

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"--data-dir", dir}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, _ := run("pin", "list")
	if code != 0 || !strings.Contains(out, "fs: 1 tools pinned, 1 changed") || !strings.Contains(out, "changed read: description differ") ||
		!strings.Contains(out, "toolgate pin accept fs read") {
		t.Errorf("pin list: %d\n%s", code, out)
	}
	if code, _, errs := run("pin", "accept", "fs", "write"); code == 0 || !strings.Contains(errs, "no pending change for write") {
		t.Errorf("accept of a tool without a change: %d %s", code, errs)
	}
	if code, out, _ := run("pin", "accept", "fs"); code != 0 || !strings.Contains(out, "accepted the new definition of read") {
		t.Errorf("pin accept: %d %s", code, out)
	}
	if p, _, _ := s.Pinned("read"); p.Digest != d2.Digest {
		t.Error("the change was not accepted")
	}
	// A server without pins is an error, and looking creates nothing.
	for _, args := range [][]string{{"pin", "list", "other"}, {"pin", "accept", "other"}, {"pin", "accept", "other", "read"}} {
		if code, out, errs := run(args...); code != ExitError || out != "" ||
			!strings.Contains(errs, `no pins for server "other"`) || !strings.Contains(errs, "these have: fs") {
			t.Errorf("%v: %d %q %q", args, code, out, errs)
		}
	}
	if entries, _ := os.ReadDir(pin.Dir(dir)); len(entries) != 2 { // fs.json and its lock
		t.Errorf("pins dir after looking for other: %v", entries)
	}
	empty := t.TempDir()
	var o bytes.Buffer
	if Main([]string{"--data-dir", empty, "pin", "list"}, strings.NewReader(""), &o, os.Stderr); !strings.Contains(o.String(), "no pins") {
		t.Errorf("empty: %s", o.String())
	}
}

// The server exits while the client is still connected: toolgate says so
// on stderr and exits 1; stdout has nothing but protocol messages.
func TestRunServerExit(t *testing.T) {
	inR, inW := io.Pipe()
	defer inW.Close()
	var out, errb bytes.Buffer
	code := Main([]string{"--data-dir", t.TempDir(), "run", "--name", "dies", "--", "sh", "-c", "echo starting >&2; exit 3"}, inR, &out, &errb)
	if code != ExitError || out.Len() != 0 ||
		!strings.Contains(errb.String(), `toolgate: the MCP server "sh -c echo starting >&2; exit 3" exited while the client was connected: exit status 3`) ||
		!strings.Contains(errb.String(), "starting") {
		t.Errorf("exit %d\nstdout %q\nstderr %s", code, out.String(), errb.String())
	}
}

// The client closes stdin: the server's stdin is closed, it exits, and so
// does toolgate, with 0, leaving no server process behind. (A toolgate that
// did not stop would hang the test until go test's own timeout: no clock
// here.)
func TestRunStopsWhenTheClientCloses(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "server.pid")
	var out, errb bytes.Buffer
	code := Main([]string{"--data-dir", t.TempDir(), "run", "--", "sh", "-c", `echo $$ > "$0"; cat >/dev/null`, pidFile}, strings.NewReader(""), &out, &errb)
	if code != ExitOK || out.Len() != 0 {
		t.Errorf("exit %d\nstdout %q\nstderr %s", code, out.String(), errb.String())
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the server did not start: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// toolgate waited for its child: the process is gone (not even a
	// zombie, which signal 0 would still find).
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the server (pid %d) is still there after toolgate returned: %v", pid, err)
	}
}

// A name derived from a file (node build/index.js is "index") is warned
// about; a name that says what the server is, or one given, is not.
func TestRunWarnsAboutAFileName(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "build", "index.sh"), "cat >/dev/null\n")
	const warn = "the server's name was derived from its command and says little about it"
	for _, tt := range []struct {
		args []string
		warn bool
	}{
		{[]string{"run", "--", "sh", "build/index.sh"}, true},
		{[]string{"run", "--", "node", "build/index.js"}, true},
		{[]string{"run", "--name", "notes", "--", "sh", "build/index.sh"}, false},
		{[]string{"run", "--", "uvx", "mcp-server-git"}, false},
	} {
		if tt.args[len(tt.args)-1] == "build/index.js" {
			writeFile(t, filepath.Join(dir, "build", "index.js"), "process.stdin.resume()\n")
			if _, err := exec.LookPath("node"); err != nil {
				continue
			}
		}
		if tt.args[2] == "uvx" {
			// Not run: only the name matters, and it is fine.
			if DeriveServerName(tt.args[2:]) != "git" {
				t.Error("uvx mcp-server-git is not git")
			}
			continue
		}
		_, _, errs := toolgateBin(t, dir, nil, append([]string{"--data-dir", t.TempDir()}, tt.args...)...)
		if strings.Contains(errs, warn) != tt.warn {
			t.Errorf("%v: warned %v, want %v\n%s", tt.args, !tt.warn, tt.warn, errs)
		}
	}
}
