package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// TestExamplePolicyPack runs the shipped policy pack's own test cases, with
// the real classifiers bound by its configuration.
func TestExamplePolicyPack(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main([]string{"policy", "test", "--config", "../../examples/policies/config.yaml", "../../examples/policies"}, nil, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), " passed, 0 failed") {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}
