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
// directly and through `toolgate run` in the same test: allowed calls return
// exactly what the server returns directly, denied calls carry the reason,
// tools no policy permits are absent.
func TestFilesystemThroughToolgate(t *testing.T) {
	server := testutil.NodeBin(t, "mcp-server-filesystem")
	e := newEnv(t)
	ctx := timeout(t, 2*time.Minute)

	ws, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.MkdirAll(filepath.Join(ws, "out"), 0o755))
	must(t, os.MkdirAll(filepath.Join(ws, "docs"), 0o755))
	must(t, os.WriteFile(filepath.Join(ws, "notes.md"), []byte("# Notes\nhello\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(ws, "docs", "a.txt"), []byte("alpha\nbeta\ngamma\n"), 0o644))

	policies := t.TempDir()
	tmpl, err := os.ReadFile(filepath.Join(testdataDir(t), "filesystem", "fs.cedar.tmpl"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(policies, "fs.cedar"), []byte(strings.ReplaceAll(string(tmpl), "{{WS}}", ws)), 0o644))

	direct := connect(t, ctx, exec.Command(server, ws), nil)
	proxied := connect(t, ctx, e.toolgate("--policy", policies, "--", server, ws), nil)

	// tools/list: the same tools, less the ones no policy can permit.
	dTools, pTools := toolNames(t, ctx, direct), toolNames(t, ctx, proxied)
	want := slices.DeleteFunc(slices.Clone(dTools), func(n string) bool { return n == "move_file" })
	if !slices.Equal(pTools, want) {
		t.Errorf("tools through toolgate = %v\nwant %v", pTools, want)
	}
	dl, _ := direct.ListTools(ctx, nil)
	pl, _ := proxied.ListTools(ctx, nil)
	for _, pt := range pl.Tools {
		for _, dt := range dl.Tools {
			if dt.Name == pt.Name {
				sameJSON(t, "tool "+pt.Name, dt, pt)
			}
		}
	}

	// Allowed calls: exactly the server's results.
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"read_text_file", map[string]any{"path": filepath.Join(ws, "notes.md")}},
		{"read_text_file", map[string]any{"path": filepath.Join(ws, "docs", "a.txt"), "head": 2}},
		{"read_multiple_files", map[string]any{"paths": []string{filepath.Join(ws, "notes.md"), filepath.Join(ws, "docs", "a.txt")}}},
		{"list_directory", map[string]any{"path": ws}},
		{"directory_tree", map[string]any{"path": ws}},
		{"search_files", map[string]any{"path": ws, "pattern": "*.txt"}},
		{"list_allowed_directories", map[string]any{}},
		{"read_text_file", map[string]any{"path": "/etc/hostname"}}, // allowed by policy, refused by the server itself
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

	// Denied calls: isError, the reason, the decision; nothing happens.
	for _, c := range []struct {
		tool   string
		args   map[string]any
		reason string
		policy string
	}{
		{"write_file", map[string]any{"path": filepath.Join(ws, "notes.md"), "content": "pwned"}, "no policy", ""},
		{"write_file", map[string]any{"path": ws + "/out/../notes.md", "content": "pwned"}, "paths with .. are not allowed", "fs-no-dotdot"},
		{"edit_file", map[string]any{"path": filepath.Join(ws, "notes.md"), "edits": []map[string]any{{"oldText": "hello", "newText": "pwned"}}}, "no policy", ""},
		{"move_file", map[string]any{"source": filepath.Join(ws, "notes.md"), "destination": filepath.Join(ws, "out", "n.md")}, "moving files is not allowed", "fs-no-move"},
	} {
		msg, dec := denial(t, callTool(t, ctx, proxied, c.tool, c.args))
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(c.reason)) || !strings.Contains(msg, "toolgate denied this call to "+c.tool) {
			t.Errorf("%s: denial text %q does not give the reason %q", c.tool, msg, c.reason)
		}
		if c.policy != "" && !slices.Contains(toStrings(dec["policies"]), c.policy) {
			t.Errorf("%s: determining policies %v, want %s", c.tool, dec["policies"], c.policy)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "notes.md")); string(b) != "# Notes\nhello\n" {
		t.Errorf("a denied call changed notes.md: %q", b)
	}
	if _, err := os.Stat(filepath.Join(ws, "out", "n.md")); err == nil {
		t.Error("a denied move happened")
	}
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
