package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

func TestPolicyTestPasses(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main([]string{"policy", "test", "-v", "testdata/policytest/pass"}, nil, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "6 passed, 0 failed") {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

func TestPolicyTestFailingCase(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main([]string{"policy", "test", "testdata/policytest/fail"}, nil, &stdout, &stderr)
	out := stdout.String()
	if code != ExitError {
		t.Fatalf("exit %d, want %d\n%s", code, ExitError, out)
	}
	for _, want := range []string{
		"FAIL testdata/policytest/fail/fs_test.yaml:9 wrong expectation",
		"expected: allow",
		"actual:   deny (policies [no-destructive-sql])",
		"why:      destructive SQL needs a DBA",
		"1 passed, 1 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPolicyTestBadFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.cedar"), `permit(principal, action, resource);`)
	writeFile(t, filepath.Join(dir, "x_test.yaml"), "tests:\n  - name: a\n    expct: allow\n")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"policy", "test", dir}, nil, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "x_test.yaml:3:5: tests[0].expct: unknown key") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if err := os.Remove(filepath.Join(dir, "x_test.yaml")); err != nil {
		t.Fatal(err)
	}
	if code := Main([]string{"policy", "test", dir}, nil, &stdout, &stderr); code == 0 {
		t.Fatal("no test files should be an error")
	}
}

func TestPolicyValidate(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok.cedar"), `@id("read") permit(principal, action == Action::"fs/read_file", resource) when { context.input.path like "/w/*" };`)
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"policy", "validate", dir}, nil, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "ok: 1 policies") {
		t.Fatalf("exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	schema := filepath.Join(dir, "schema.cedarschema")
	writeFile(t, schema, `
entity Group;
entity Agent in [Group];
entity User in [Group];
entity Server { trust: String, labels: Set<String> };
action "fs/read_file" appliesTo {
  principal: [Agent, User],
  resource: Server,
  context: { input: { path: String } }
};
`)
	stdout.Reset()
	if code := Main([]string{"policy", "validate", "--schema", schema, dir}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("valid against schema: exit %d: %s", code, stderr.String())
	}
	writeFile(t, filepath.Join(dir, "bad.cedar"), "\n@id(\"typo\") permit(principal, action == Action::\"fs/read_file\", resource) when { context.input.pth == \"x\" };")
	stderr.Reset()
	code := Main([]string{"policy", "validate", "--schema", schema, dir}, nil, &stdout, &stderr)
	if code != ExitError || !strings.Contains(stderr.String(), "bad.cedar:2:1:") || !strings.Contains(stderr.String(), "pth") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

// TestExamplePolicyPack runs the shipped policy pack's own test cases, as
// its README says, with the real classifiers bound by the configuration
// beside the policies.
func TestExamplePolicyPack(t *testing.T) {
	root := testutil.RepoRoot(t)
	code, out, errs := toolgateBin(t, root, nil, "policy", "test", "examples/policies")
	if code != 0 || !strings.Contains(out, " passed, 0 failed") || !strings.Contains(out, "examples/policies/toolgate.yaml (from beside the policies)") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// The filesystem example's README: change /workspace in toolgate.yaml only,
// and its policy tests still pass, found without --config; a copy of the
// policies without their toolgate.yaml fails, and says which
// configuration is missing.
func TestFilesystemExampleFollowsItsREADME(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "examples", "filesystem")
	for _, tt := range []struct{ name, workspace string }{{"as shipped", "/workspace"}, {"moved", "/home/me/projects/site"}} {
		dir := t.TempDir()
		b, err := os.ReadFile(filepath.Join(src, "toolgate.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "toolgate.yaml"), strings.ReplaceAll(string(b), "/workspace", tt.workspace))
		for _, f := range []string{"filesystem.cedar", "filesystem_test.yaml"} {
			b, err := os.ReadFile(filepath.Join(src, "policies", f))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "policies", f), string(b))
		}
		code, out, errs := toolgateBin(t, dir, nil, "policy", "test", "policies")
		if code != 0 || !strings.Contains(out, " 0 failed") {
			t.Errorf("%s: exit %d\n%s%s", tt.name, code, out, errs)
		}
	}
	// The cases against the configuration as given: with its workspace
	// moved, the write under <workspace>/out is allowed, not one under
	// /workspace/out.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "policies", "filesystem.cedar"), string(must(os.ReadFile(filepath.Join(src, "policies", "filesystem.cedar")))))
	b := must(os.ReadFile(filepath.Join(src, "toolgate.yaml")))
	writeFile(t, filepath.Join(dir, "toolgate.yaml"), strings.ReplaceAll(string(b), "/workspace", "/srv/site"))
	writeFile(t, filepath.Join(dir, "policies", "w_test.yaml"), `tests:
  - name: write under the moved out/
    request: {subject: {type: agent, id: a}, action: {name: filesystem/write_file}, resource: {type: server, id: filesystem}, context: {input: {path: /srv/site/out/r.md, content: x}}}
    expect: allow
  - name: write under the old out/
    request: {subject: {type: agent, id: a}, action: {name: filesystem/write_file}, resource: {type: server, id: filesystem}, context: {input: {path: /workspace/out/r.md, content: x}}}
    expect: deny
  - name: write elsewhere in the moved workspace
    request: {subject: {type: agent, id: a}, action: {name: filesystem/write_file}, resource: {type: server, id: filesystem}, context: {input: {path: /srv/site/r.md, content: x}}}
    expect: deny
`)
	if code, out, errs := toolgateBin(t, dir, nil, "policy", "test", "policies"); code != 0 {
		t.Errorf("moved workspace: exit %d\n%s%s", code, out, errs)
	}

	// Without the configuration: the cases fail, and the output says why.
	bare := t.TempDir()
	for _, f := range []string{"filesystem.cedar", "filesystem_test.yaml"} {
		writeFile(t, filepath.Join(bare, "pack", f), string(must(os.ReadFile(filepath.Join(src, "policies", f)))))
	}
	code, out, _ := toolgateBin(t, bare, nil, "policy", "test", "pack")
	if code != ExitError || !strings.Contains(out, "the cases call server filesystem, and no configuration file was used") {
		t.Errorf("without the config: exit %d\n%s", code, out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// policy test --format json and junit report every case for tools and CI.
func TestPolicyTestFormats(t *testing.T) {
	code, out, errs := toolgateBin(t, "", nil, "policy", "test", "--format", "json", must(filepath.Abs("testdata/policytest/fail")))
	var rep struct {
		Passed, Failed int
		Results        []struct {
			File, Name, Failure string
			Line                int
			Pass                bool
		}
	}
	if code != ExitError || json.Unmarshal([]byte(out), &rep) != nil || rep.Passed != 1 || rep.Failed != 1 ||
		rep.Results[1].Line != 9 || rep.Results[1].Name != "wrong expectation" || !strings.Contains(rep.Results[1].Failure, "expected: allow") {
		t.Errorf("json: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = toolgateBin(t, "", nil, "policy", "test", "--format", "junit", must(filepath.Abs("testdata/policytest/fail")))
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Line    int    `xml:"line,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil || code != ExitError || suites.Tests != 2 || suites.Failures != 1 ||
		suites.Suites[0].Cases[0].Failure != nil || suites.Suites[0].Cases[1].Failure == nil ||
		!strings.Contains(suites.Suites[0].Cases[1].Failure.Text, "actual:   deny") {
		t.Errorf("junit: exit %d %v\n%s%s", code, err, out, errs)
	}
	if code, _, _ := toolgateBin(t, "", nil, "policy", "test", "--format", "tap", must(filepath.Abs("testdata/policytest/pass"))); code != ExitUsage {
		t.Errorf("bad format: %d", code)
	}
}

// The injection packs' policy tests pass (examples/injection/<kind>).
func TestInjectionPackPolicies(t *testing.T) {
	for _, kind := range []string{"payments", "messaging", "travel", "office"} {
		dir := filepath.Join(testutil.RepoRoot(t), "examples", "injection", kind)
		var out, errb bytes.Buffer
		code := Main([]string{"policy", "test", "--config", filepath.Join(dir, "toolgate.yaml"), filepath.Join(dir, "policies")}, strings.NewReader(""), &out, &errb)
		if code != 0 || !strings.Contains(out.String(), " 0 failed") {
			t.Fatalf("%s: exit %d\n%s%s", kind, code, out.String(), errb.String())
		}
	}
}

// policy validate shows a parse error in words, with the line and a caret.
func TestPolicyValidateShowsTheSource(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.cedar"), "@id(\"a\")\npermit (principal, action, resource)\nwhen { context.input.path lke \"/w/*\" };\n")
	code, out, errs := toolgateBin(t, dir, nil, "policy", "validate", "p.cedar")
	want := "p.cedar:3:27: expected an operator or `}` after the expression, found `lke` (did you mean `like`?) [policy.parse]\n" +
		"    when { context.input.path lke \"/w/*\" };\n" +
		"                              ^^^\n"
	if code != ExitError || out != "" || !strings.Contains(errs, want) {
		t.Errorf("exit %d\n%s", code, errs)
	}
}

// Without DIR, policy validate checks the configuration's policies, each
// layer on its own; with DIR, --config would be ignored, so it is refused.
func TestPolicyValidateOfTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "org", "a.cedar"), `permit(principal, action, resource);`)
	writeFile(t, filepath.Join(dir, "team", "b.cedar"), `forbid(principal, action == Action::"x/y", resource);`)
	writeFile(t, filepath.Join(dir, "toolgate.yaml"), "policy:\n  dirs: [org]\n  layers: [{name: team, dirs: [team]}]\n")
	code, out, errs := toolgateBin(t, dir, nil, "policy", "validate")
	if code != 0 || !strings.Contains(out, "(layer org)") || !strings.Contains(out, "(layer team)") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
	writeFile(t, filepath.Join(dir, "team", "b.cedar"), `forbid(principal, action == Action::"x/y" resource);`)
	if code, _, errs := toolgateBin(t, dir, nil, "policy", "validate"); code != ExitError || !strings.Contains(errs, "b.cedar:1:43: missing `,` before `resource`") {
		t.Errorf("invalid layer: exit %d\n%s", code, errs)
	}
	if code, _, errs := toolgateBin(t, dir, nil, "policy", "validate", "--config", "toolgate.yaml", "org"); code != ExitUsage || !strings.Contains(errs, "not both") {
		t.Errorf("DIR and --config: exit %d\n%s", code, errs)
	}
	if code, _, errs := toolgateBin(t, "", nil, "policy", "validate"); code != ExitUsage || !strings.Contains(errs, "no policy directory") {
		t.Errorf("nothing to validate: exit %d\n%s", code, errs)
	}
}
