package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/testutil"
)

// TestMain lets the test binary be the scripted MCP server of the rug-pull
// tests (TOOLGATE_E2E_SERVER=rugpull).
func TestMain(m *testing.M) {
	if os.Getenv("TOOLGATE_E2E_SERVER") == "rugpull" {
		rugpullServer()
		return
	}
	os.Exit(m.Run())
}

// env is what a test runs toolgate with.
type env struct {
	t       *testing.T
	dataDir string
	config  string // testdata/config.yaml unless a test sets another
	stderr  *testutil.SyncBuffer
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, dataDir: t.TempDir(), config: filepath.Join(testdataDir(t), "config.yaml"), stderr: &testutil.SyncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("toolgate's stderr:\n%s", e.stderr.String())
		}
	})
	return e
}

// toolgate returns the command `toolgate run ARGS...` with the test config
// and data directory.
func (e *env) toolgate(args ...string) *exec.Cmd {
	cmd := exec.Command(testutil.Toolgate(e.t), append([]string{"--config", e.config, "--data-dir", e.dataDir, "run"}, args...)...)
	cmd.Env = os.Environ()
	cmd.Stderr = e.stderr
	return cmd
}

func testdataDir(t *testing.T) string {
	return filepath.Join(testutil.RepoRoot(t), "internal", "mcp", "e2e", "testdata")
}

// connect starts cmd and opens an MCP session to it with the official Go
// SDK client.
func connect(t *testing.T, ctx context.Context, cmd *exec.Cmd, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "toolgate-e2e", Version: "1"}, opts)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect to %s: %v", strings.Join(cmd.Args, " "), err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// asJSON renders a result for comparison.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// clockTime matches the wall-clock times server-everything writes into
// resources it makes on request ("created at 4:03:52 AM"): the two sessions
// read them a moment apart.
var clockTime = regexp.MustCompile(`\b\d{1,2}:\d{2}:\d{2}\s?[AP]M\b`)

// sameJSON fails the test if the direct and proxied results differ (clock
// times aside).
func sameJSON(t *testing.T, what string, direct, proxied any) {
	t.Helper()
	d, p := asJSON(t, direct), asJSON(t, proxied)
	d, p = clockTime.ReplaceAllString(d, "<time>"), clockTime.ReplaceAllString(p, "<time>")
	if d != p {
		t.Errorf("%s differs through toolgate:\ndirect:  %s\nproxied: %s", what, d, p)
	}
}

func callTool(t *testing.T, ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

func toolNames(t *testing.T, ctx context.Context, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var out []string
	for _, tool := range res.Tools {
		out = append(out, tool.Name)
	}
	return out
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// denial checks that a result is toolgate's denial and returns its text and
// decision.
func denial(t *testing.T, res *mcp.CallToolResult) (string, map[string]any) {
	t.Helper()
	if !res.IsError {
		t.Fatalf("not denied: %s", asJSON(t, res))
	}
	dec, _ := res.Meta["toolgate/decision"].(map[string]any)
	if dec == nil || dec["decision_id"] == "" || dec["effect"] != "deny" {
		t.Fatalf("no toolgate decision in the denial: %s", asJSON(t, res))
	}
	return text(res), dec
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type mcpTool = mcp.Tool
