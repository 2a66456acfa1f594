package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/identity/idptest"
	"github.com/toolgate/toolgate/internal/mcp/pin"
	"github.com/toolgate/toolgate/internal/testutil"
)

// doctorSetup is the filesystem example with the real server installed by
// scripts/test-deps.sh, a workspace and a data directory with its keys.
func doctorSetup(t *testing.T) (dir, server string) {
	t.Helper()
	server = testutil.NodeBin(t, "mcp-server-filesystem")
	dir = t.TempDir()
	ws := filepath.Join(dir, "ws")
	if err := os.MkdirAll(filepath.Join(ws, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(testutil.RepoRoot(t), "examples", "filesystem")
	cfg := string(must(os.ReadFile(filepath.Join(src, "toolgate.yaml"))))
	cfg = strings.Replace(cfg, `command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", /workspace]`, "command: "+server+"\n    args: [/workspace]", 1)
	cfg = strings.ReplaceAll(cfg, "/workspace", ws) + "data_dir: data\nlisten: 127.0.0.1:0\n"
	writeFile(t, filepath.Join(dir, "toolgate.yaml"), cfg)
	writeFile(t, filepath.Join(dir, "policies", "filesystem.cedar"), string(must(os.ReadFile(filepath.Join(src, "policies", "filesystem.cedar")))))
	if code, _, errs := toolgateBin(t, dir, nil, "task", "create", "--agent", "a", "--purpose", "p", "--tool", "filesystem/*"); code != 0 {
		t.Fatalf("task create: %s", errs)
	}
	return dir, server
}

func doctorJSON(t *testing.T, dir string, args ...string) (int, map[string]check) {
	t.Helper()
	code, out, errs := toolgateBin(t, dir, nil, append([]string{"doctor", "--json"}, args...)...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json: exit %d, %v\n%s%s", code, err, out, errs)
	}
	checks := map[string]check{}
	for _, c := range rep.Checks {
		checks[c.Name] = c
	}
	return code, checks
}

// A working setup: every check passes, the report names each part, and the
// data directory is as it was.
func TestDoctorHealthy(t *testing.T) {
	dir, _ := doctorSetup(t)
	before := snapshot(t, filepath.Join(dir, "data"))
	code, out, errs := toolgateBin(t, dir, nil, "doctor")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	// Columns are aligned by spaces; compare with runs of them as one.
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"ok config " + filepath.Join(dir, "toolgate.yaml") + " (from ./toolgate.yaml)",
		"ok policies " + filepath.Join(dir, "policies") + " (org: 6)",
		"ok server filesystem 14 tools listed in",
		"ok policy schema the policies type-check against the servers' tools",
		"ok data directory " + filepath.Join(dir, "data") + ": writable, fsync works",
		"ok signing keys active key ",
		"ok pins filesystem nothing pinned yet",
		"ok listen 127.0.0.1:0 is free",
		"ok audit durability flush: each decision record is on stable storage before its call runs",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if after := snapshot(t, filepath.Join(dir, "data")); after != before {
		t.Errorf("doctor changed the data directory:\n%s\n%s", before, after)
	}
}

// Each kind of trouble is found, said, and given a fix; failures exit 1,
// warnings only with --strict.
func TestDoctorFindsTrouble(t *testing.T) {
	dir, server := doctorSetup(t)
	data := filepath.Join(dir, "data")

	// The tools as pinned, then one changed under the pin.
	cfg, err := config.Load(filepath.Join(dir, "toolgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tools, err := listTools(context.Background(), *cfg.Server("filesystem"))
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := pin.Open(data, "filesystem")
	var defs []pin.Definition
	for _, tl := range tools {
		d, err := pin.Define(tl.raw)
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, d)
	}
	if _, err := ps.Check(defs); err != nil {
		t.Fatal(err)
	}
	if code, checks := doctorJSON(t, dir); code != 0 || checks["pins filesystem"].Status != checkOK || !strings.Contains(checks["pins filesystem"].Detail, "14 tools match their pins") {
		t.Fatalf("pinned: exit %d %+v", code, checks["pins filesystem"])
	}
	// A definition that was different when pinned: accepted, so the pin
	// is now what the server does not say.
	var raw map[string]any
	json.Unmarshal(tools[0].raw, &raw)
	raw["description"] = "an older description"
	old, _ := pin.Define(must(json.Marshal(raw)))
	ps.Check([]pin.Definition{old})
	if _, err := ps.Accept(nil); err != nil {
		t.Fatal(err)
	}
	code, checks := doctorJSON(t, dir)
	if c := checks["pins filesystem"]; code != 0 || c.Status != checkWarn || !strings.Contains(c.Detail, tools[0].Name+" (description)") || !strings.Contains(c.Fix, "toolgate pin accept filesystem") {
		t.Errorf("changed pin: exit %d %+v", code, c)
	}
	if code, _ := doctorJSON(t, dir, "--strict"); code != ExitError {
		t.Errorf("--strict with a warning: exit %d", code)
	}

	// A policy with a typo in an argument: it parses, but does not
	// type-check against the server's tools.
	writeFile(t, filepath.Join(dir, "policies", "typo.cedar"), `@id("typo") permit (principal, action == Action::"filesystem/read_text_file", resource) when { context.input.pth like "/tmp/*" };`)
	if _, checks := doctorJSON(t, dir); checks["policy schema"].Status != checkWarn || !strings.Contains(checks["policy schema"].Detail, "attribute `pth`") {
		t.Errorf("typo: %+v", checks["policy schema"])
	}
	// A policy that does not parse.
	writeFile(t, filepath.Join(dir, "policies", "typo.cedar"), `permit (principal, action, resource) when { context.a lke "x" };`)
	if code, checks := doctorJSON(t, dir); code != ExitError || checks["policies"].Status != checkFail || !strings.Contains(checks["policies"].Detail, "found `lke`") {
		t.Errorf("bad policy: exit %d %+v", code, checks["policies"])
	}
	os.Remove(filepath.Join(dir, "policies", "typo.cedar"))

	// A server that does not start, an identity provider that does not
	// answer, and a real one that does.
	op := idptest.Start(t)
	extra := "\nidentity:\n  issuers:\n    - {issuer: \"" + op.Issuer + "\", audience: [toolgate], id_prefix: \"op:\"}\n    - {issuer: \"http://127.0.0.1:1/\", audience: [toolgate], id_prefix: \"other:\"}\n"
	cfgText := string(must(os.ReadFile(filepath.Join(dir, "toolgate.yaml"))))
	cfgText = strings.Replace(cfgText, "command: "+server, "command: "+filepath.Join(dir, "no-such-server"), 1)
	writeFile(t, filepath.Join(dir, "toolgate.yaml"), cfgText+extra)
	code, checks = doctorJSON(t, dir)
	if code != ExitError {
		t.Errorf("exit %d", code)
	}
	if c := checks["config"]; c.Status != checkOK {
		t.Fatalf("config: %+v", c)
	}
	if c := checks["server filesystem"]; c.Status != checkFail || !strings.Contains(c.Fix, "no-such-server") {
		t.Errorf("broken server: %+v", c)
	}
	if c := checks["identity "+op.Issuer]; c.Status != checkOK || !strings.Contains(c.Detail, "keys at ") {
		t.Errorf("real OP: %+v", c)
	}
	if c := checks["identity http://127.0.0.1:1/"]; c.Status != checkFail || !strings.Contains(c.Detail, "discovery") {
		t.Errorf("unreachable OP: %+v", c)
	}
	if _, ok := checks["policy schema"]; ok {
		t.Error("the schema was checked without every server's tools")
	}
}
