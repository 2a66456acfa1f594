package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

// toolgateBin runs the real toolgate binary with args, in dir (the test's
// temporary directory if ""), with a clean configuration environment: no
// config is found unless the test puts one there. env adds variables.
func toolgateBin(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	bin := testutil.Toolgate(t)
	if dir == "" {
		dir = t.TempDir()
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(t), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("toolgate %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// cleanEnv is the test process's environment without toolgate's own
// variables, with XDG directories of its own.
func cleanEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOOLGATE_") && !strings.HasPrefix(kv, "XDG_") {
			env = append(env, kv)
		}
	}
	home := t.TempDir()
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config", "XDG_DATA_HOME="+home+"/.local/share")
}

// A mistyped sub-command, at any level, is a usage error (exit 2) that says
// what was meant; it never prints help and exits 0, which would let
// `toolgate policy tset … && deploy` pass in CI.
func TestUnknownSubcommandsFail(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"policy", "tset", "x"}, `unknown command "tset" for "toolgate policy"; did you mean test?`},
		{[]string{"audit", "verfy"}, `unknown command "verfy" for "toolgate audit"; did you mean verify?`},
		{[]string{"approval", "aprove", "apv_1"}, `did you mean approve?`},
		{[]string{"task", "crate"}, `did you mean create?`},
		{[]string{"pin", "lst"}, `did you mean list?`},
		{[]string{"config", "valdate"}, `did you mean validate?`},
		{[]string{"completion", "bsh"}, `did you mean bash`},
		{[]string{"polcy", "test"}, `unknown command "polcy" for "toolgate"; did you mean policy?`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "toolgate" (commands: `},
		{[]string{"policy"}, `"toolgate policy" needs a sub-command: `},
		{[]string{}, `"toolgate" needs a sub-command: `},
		{[]string{"help", "polcy"}, `no help for "polcy"`},
		{[]string{"version", "extra"}, `unknown command "extra" for "toolgate version"`},
	}
	for _, tt := range tests {
		code, out, errs := toolgateBin(t, "", nil, tt.args...)
		if code != ExitUsage || out != "" || !strings.Contains(errs, tt.want) {
			t.Errorf("toolgate %s: exit %d, stdout %q, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), code, out, errs, tt.want)
		}
	}
}

// A usage error names the command whose help to read.
func TestUsageHintNamesTheCommand(t *testing.T) {
	tests := []struct {
		args []string
		hint string
	}{
		{[]string{"run", "--bogus"}, "Run 'toolgate run --help' for usage."},
		{[]string{"run"}, "Run 'toolgate run --help' for usage."},
		{[]string{"audit", "tail", "--effect", "maybe"}, "Run 'toolgate audit tail --help' for usage."},
		{[]string{"approval", "approve"}, "Run 'toolgate approval approve --help' for usage."},
		{[]string{"task", "revoke", "a", "b"}, "Run 'toolgate task revoke --help' for usage."},
		{[]string{"policy", "tset"}, "Run 'toolgate policy --help' for usage."},
	}
	for _, tt := range tests {
		code, _, errs := toolgateBin(t, "", nil, tt.args...)
		if code != ExitUsage || !strings.HasSuffix(strings.TrimSpace(errs), tt.hint) {
			t.Errorf("toolgate %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), code, errs, tt.hint)
		}
	}
	if code, out, _ := toolgateBin(t, "", nil, "help", "policy", "test"); code != 0 || !strings.Contains(out, "test loads the policies") {
		t.Errorf("help policy test: exit %d\n%s", code, out)
	}
}
