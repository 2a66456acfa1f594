package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/testutil"
)

// TestFilesystemThroughToolgate drives @modelcontextprotocol/server-filesystem
// directly and through `toolgate run` in the same test, with the shipped
// example (examples/filesystem: config with path facts, policies), its
// /workspace mapped to the test's workspace, plus one policy that forbids a
// tool outright. Allowed calls return exactly what the server returns
// directly; denied calls carry the reason; the forbidden tool is absent.
func TestFilesystemThroughToolgate(t *testing.T) {
	server := testutil.NodeBin(t, "mcp-server-filesystem")
	e := newEnv(t)
	ctx := timeout(t, 2*time.Minute)

	ws, err := filepath.EvalSymlinks(t.TempDir())
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(ws, "out"), 0o755))
	must(t, os.MkdirAll(filepath.Join(ws, "docs"), 0o755))
	must(t, os.WriteFile(filepath.Join(ws, "notes.md"), []byte("# Notes\nhello\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(ws, "docs", "a.txt"), []byte("alpha\nbeta\ngamma\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(ws, ".env"), []byte("TOKEN=secret\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(ws, "out", "draft.md"), []byte("draft\n"), 0o644))
	e.config = exampleConfig(t, ws)

	direct := connect(t, ctx, exec.Command(server, ws), nil)
	proxied := connect(t, ctx, e.toolgate("--name", "filesystem", "--", server, ws), nil)

	// tools/list: the same tools and definitions, less the forbidden one.
	dl, err := direct.ListTools(ctx, nil)
	must(t, err)
	pl, err := proxied.ListTools(ctx, nil)
	must(t, err)
	want := slices.DeleteFunc(slices.Clone(dl.Tools), func(x *mcpTool) bool { return x.Name == "read_media_file" })
	sameJSON(t, "tools/list", want, pl.Tools)

	// Allowed calls: exactly the server's results.
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"read_text_file", map[string]any{"path": filepath.Join(ws, "notes.md")}},
		{"read_text_file", map[string]any{"path": filepath.Join(ws, "docs", "a.txt"), "head": 2}},
		{"read_multiple_files", map[string]any{"paths": []string{filepath.Join(ws, "notes.md"), filepath.Join(ws, "docs", "a.txt")}}},
		{"list_directory", map[string]any{"path": ws}},
		{"directory_tree", map[string]any{"path": filepath.Join(ws, "docs")}},
		{"search_files", map[string]any{"path": ws, "pattern": "*.txt"}},
		{"list_allowed_directories", map[string]any{}},
	} {
		sameJSON(t, c.tool, callTool(t, ctx, direct, c.tool, c.args), callTool(t, ctx, proxied, c.tool, c.args))
	}
	// An allowed write, then the same write directly: the same result.
	w := map[string]any{"path": filepath.Join(ws, "out", "report.md"), "content": "written through toolgate\n"}
	pw := callTool(t, ctx, proxied, "write_file", w)
	if b, err := os.ReadFile(filepath.Join(ws, "out", "report.md")); err != nil || string(b) != "written through toolgate\n" {
		t.Fatalf("allowed write did not happen: %q %v (%s)", b, err, asJSON(t, pw))
	}
	sameJSON(t, "write_file", callTool(t, ctx, direct, "write_file", w), pw)
	// An allowed move within out/.
	if res := callTool(t, ctx, proxied, "move_file", map[string]any{"source": filepath.Join(ws, "out", "draft.md"), "destination": filepath.Join(ws, "out", "final.md")}); res.IsError {
		t.Errorf("move within out/: %s", asJSON(t, res))
	}

	// Denied calls: isError, the reason, the decision; nothing happens.
	for _, c := range []struct {
		tool   string
		args   map[string]any
		reason string
		policy string
	}{
		{"read_text_file", map[string]any{"path": "/etc/hostname"}, "no policy", ""},
		{"read_text_file", map[string]any{"path": filepath.Join(ws, ".env")}, "sensitive file", "fs-no-secrets"},
		{"read_media_file", map[string]any{"path": filepath.Join(ws, "notes.md")}, "media files are not for this agent", "no-media"},
		{"write_file", map[string]any{"path": filepath.Join(ws, "notes.md"), "content": "pwned"}, "no policy", ""},
		{"write_file", map[string]any{"path": ws + "/out/../notes.md", "content": "pwned"}, "no policy", ""},
		{"edit_file", map[string]any{"path": filepath.Join(ws, "notes.md"), "edits": []map[string]any{{"oldText": "hello", "newText": "pwned"}}}, "no policy", ""},
		{"move_file", map[string]any{"source": filepath.Join(ws, "notes.md"), "destination": filepath.Join(ws, "out", "n.md")}, "no policy", ""},
		{"move_file", map[string]any{"source": filepath.Join(ws, "out", "report.md"), "destination": filepath.Join(t.TempDir(), "r.md")}, "no policy", ""},
	} {
		msg, dec := denial(t, callTool(t, ctx, proxied, c.tool, c.args))
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(c.reason)) || !strings.Contains(msg, "toolgate denied this call to "+c.tool) {
			t.Errorf("%s %v: denial text %q does not give the reason %q", c.tool, c.args, msg, c.reason)
		}
		if c.policy != "" && !slices.Contains(toStrings(dec["policies"]), c.policy) {
			t.Errorf("%s: determining policies %v, want %s", c.tool, dec["policies"], c.policy)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "notes.md")); string(b) != "# Notes\nhello\n" {
		t.Errorf("a denied call changed notes.md: %q", b)
	}
	if _, err := os.Stat(filepath.Join(ws, "out", "report.md")); err != nil {
		t.Error("a denied move happened")
	}
}

// exampleConfig copies examples/filesystem (config and policies) with
// /workspace replaced by ws, adds testdata/filesystem's policy and the test
// shutdown timeout, and returns the config's path.
func exampleConfig(t *testing.T, ws string) string {
	t.Helper()
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "policies"), 0o755))
	copyReplacing := func(from, to string) {
		b, err := os.ReadFile(from)
		must(t, err)
		must(t, os.WriteFile(to, []byte(strings.ReplaceAll(string(b), "/workspace", ws)), 0o644))
	}
	copyReplacing(filepath.Join(root, "examples", "filesystem", "toolgate.yaml"), filepath.Join(dir, "toolgate.yaml"))
	copyReplacing(filepath.Join(root, "examples", "filesystem", "policies", "filesystem.cedar"), filepath.Join(dir, "policies", "filesystem.cedar"))
	copyReplacing(filepath.Join(testdataDir(t), "filesystem", "hide-media.cedar"), filepath.Join(dir, "policies", "hide-media.cedar"))
	f, err := os.OpenFile(filepath.Join(dir, "toolgate.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteString("\nlog: {level: debug}\n")
	must(t, err)
	// The example's mcp section gets the test's shutdown timeout.
	b, _ := os.ReadFile(filepath.Join(dir, "toolgate.yaml"))
	must(t, os.WriteFile(filepath.Join(dir, "toolgate.yaml"), []byte(strings.Replace(string(b), "mcp:\n", "mcp:\n  shutdown_timeout: 1s\n", 1)), 0o644))
	return filepath.Join(dir, "toolgate.yaml")
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
