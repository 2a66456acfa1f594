package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

// policy schema lists the real filesystem server's tools and writes a
// schema the example's policies validate against; a policy with a typo in
// an argument name does not.
func TestPolicySchemaOfTheFilesystemServer(t *testing.T) {
	server := testutil.NodeBin(t, "mcp-server-filesystem")
	dir := t.TempDir()
	ws := filepath.Join(dir, "ws")
	if err := os.MkdirAll(filepath.Join(ws, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The example's configuration, the server started from the test's
	// install and serving ws.
	src := filepath.Join(testutil.RepoRoot(t), "examples", "filesystem")
	cfg := string(must(os.ReadFile(filepath.Join(src, "toolgate.yaml"))))
	cfg = strings.Replace(cfg, `command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", /workspace]`, "command: "+server+"\n    args: [/workspace]", 1)
	writeFile(t, filepath.Join(dir, "toolgate.yaml"), strings.ReplaceAll(cfg, "/workspace", ws))
	writeFile(t, filepath.Join(dir, "policies", "filesystem.cedar"), string(must(os.ReadFile(filepath.Join(src, "policies", "filesystem.cedar")))))

	code, _, errs := toolgateBin(t, dir, nil, "policy", "schema", "--out", "fs.cedarschema")
	if code != 0 || !strings.Contains(errs, "wrote the schema of 1 servers to "+filepath.Join(dir, "fs.cedarschema")) {
		t.Fatalf("policy schema: exit %d\n%s", code, errs)
	}
	text := string(must(os.ReadFile(filepath.Join(dir, "fs.cedarschema"))))
	for _, want := range []string{
		`action "filesystem/read_text_file" in ["filesystem", "CallTool", "ReadOnly"] appliesTo {`,
		`action "filesystem/write_file" in ["filesystem", "CallTool", "Destructive"] appliesTo {`,
		`"path": String,`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("schema lacks %q:\n%s", want, text)
		}
	}
	if code, out, errs := toolgateBin(t, dir, nil, "policy", "validate", "--schema", "fs.cedarschema", "policies"); code != 0 {
		t.Errorf("the example's policies against the schema: exit %d\n%s%s", code, out, errs)
	}
	writeFile(t, filepath.Join(dir, "policies", "typo.cedar"), `@id("typo")
permit (principal, action == Action::"filesystem/read_text_file", resource) when { context.input.pth like "/tmp/*" };`)
	code, _, errs = toolgateBin(t, dir, nil, "policy", "validate", "--schema", "fs.cedarschema", "policies")
	if code != ExitError || !strings.Contains(errs, "typo.cedar:1:1: for policy `typo`, attribute `pth` in context") {
		t.Errorf("typo: exit %d\n%s", code, errs)
	}

	// A server that does not start is named.
	writeFile(t, filepath.Join(dir, "broken.yaml"), "servers:\n  - {name: broken, command: sh, args: [-c, 'echo no such module >&2; exit 3']}\n")
	code, _, errs = toolgateBin(t, dir, nil, "policy", "schema", "--config", "broken.yaml")
	if code != ExitError || !strings.Contains(errs, `server "broken": MCP initialize`) || !strings.Contains(errs, "no such module") {
		t.Errorf("broken server: exit %d\n%s", code, errs)
	}
}
