package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

// The configuration is found in this order: --config, $TOOLGATE_CONFIG,
// ./toolgate.yaml, the user's config directory; else the defaults. Each
// file here names its own data directory, so the command shows which one
// was read.
func TestConfigDiscovery(t *testing.T) {
	work := t.TempDir()
	home := t.TempDir()
	write := func(path, dataDir string) {
		writeFile(t, path, "data_dir: "+dataDir+"\n")
	}
	flagFile := filepath.Join(t.TempDir(), "flag.yaml")
	envFile := filepath.Join(t.TempDir(), "env.yaml")
	write(flagFile, "/from/flag")
	write(envFile, "/from/env")
	write(filepath.Join(work, "toolgate.yaml"), "/from/cwd")
	write(filepath.Join(home, ".config", "toolgate", "toolgate.yaml"), "/from/xdg")

	path := func(env []string, args ...string) string {
		t.Helper()
		code, out, errs := toolgateBin(t, work, append([]string{"HOME=" + home, "XDG_CONFIG_HOME="}, env...), append([]string{"config", "path"}, args...)...)
		if code != 0 {
			t.Fatalf("config path: %d %s", code, errs)
		}
		return strings.TrimSpace(out)
	}
	if got := path([]string{"TOOLGATE_CONFIG=" + envFile}, "--config", flagFile); got != flagFile+" (from --config)" {
		t.Errorf("flag: %s", got)
	}
	if got := path([]string{"TOOLGATE_CONFIG=" + envFile}); got != envFile+" (from $TOOLGATE_CONFIG)" {
		t.Errorf("env: %s", got)
	}
	if got := path(nil); got != filepath.Join(work, "toolgate.yaml")+" (from ./toolgate.yaml)" {
		t.Errorf("cwd: %s", got)
	}
	os.Remove(filepath.Join(work, "toolgate.yaml"))
	if got := path(nil); got != filepath.Join(home, ".config", "toolgate", "toolgate.yaml")+" (from the user's config directory)" {
		t.Errorf("xdg: %s", got)
	}
	os.RemoveAll(filepath.Join(home, ".config"))
	if got := path(nil); !strings.HasPrefix(got, "built-in defaults") {
		t.Errorf("none: %s", got)
	}

	// The file found is the one used: its data_dir is where task create
	// writes.
	dataDir := filepath.Join(t.TempDir(), "state")
	write(filepath.Join(work, "toolgate.yaml"), dataDir)
	if code, _, errs := toolgateBin(t, work, nil, "task", "create", "--agent", "a", "--purpose", "p", "--tool", "fs/*"); code != 0 {
		t.Fatalf("task create: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "toolgate.db")); err != nil {
		t.Errorf("./toolgate.yaml was not used: %v", err)
	}
	// A file named by the variable must exist.
	if code, _, errs := toolgateBin(t, work, []string{"TOOLGATE_CONFIG=" + filepath.Join(work, "nope.yaml")}, "task", "list"); code != ExitError || !strings.Contains(errs, "nope.yaml: no such file") {
		t.Errorf("missing $TOOLGATE_CONFIG: %d %s", code, errs)
	}
}

// serve and run say at start which configuration they use.
func TestConfigLoggedAtStart(t *testing.T) {
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "toolgate.yaml"), "log: {format: json}\n")
	code, _, errs := toolgateBin(t, work, nil, "--data-dir", t.TempDir(), "run", "--", "sh", "-c", "cat >/dev/null")
	if code != 0 {
		t.Fatalf("run: %d %s", code, errs)
	}
	var line map[string]any
	for _, l := range strings.Split(errs, "\n") {
		if strings.Contains(l, "relaying") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
		}
	}
	if want := filepath.Join(work, "toolgate.yaml") + " (from ./toolgate.yaml)"; line["config"] != want {
		t.Errorf("logged config %v, want %q\n%s", line["config"], want, errs)
	}
}

// `config validate` prints every problem as file:line:col: key: message,
// value errors included, and exits 1; a valid file exits 0.
func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, `listen: nohost
mcp:
  shutdown_timeout: 5
  denial: silently
servers:
  - name: fs
    comand: npx
`)
	code, out, errs := toolgateBin(t, dir, nil, "config", "validate", bad)
	if code != ExitError || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{
		bad + `:3:21: mcp.shutdown_timeout: "5" is not a duration: write a number with a unit, such as 30s, 5m or 1h`,
		bad + `:7:5: servers[0].comand: unknown key`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	// Once the decoding problems are fixed, the value checks, in order.
	writeFile(t, bad, "listen: nohost\nmcp:\n  shutdown_timeout: 5s\n  denial: silently\n")
	_, _, errs = toolgateBin(t, dir, nil, "config", "validate", bad)
	if !strings.Contains(errs, bad+`:1:9: listen: "nohost" is not host:port`+"\n"+bad+`:4:11: mcp.denial: "silently" is not one of`) {
		t.Errorf("value checks:\n%s", errs)
	}

	// A syntax error: placed at line and column, with the source and a
	// caret; the same when a command starts with it. (On the old code:
	// "bad.yaml:2: did not find expected '-' indicator", the wrong line
	// and no column.)
	writeFile(t, bad, "servers:\n  - name: a\n   command: x\n")
	wantSyntax := bad + ":3:4: value is not allowed in this context\n" +
		"     2 |   - name: a\n     3 |    command: x\n            ^\n"
	if code, _, errs := toolgateBin(t, dir, nil, "config", "validate", bad); code != ExitError || !strings.Contains(errs, wantSyntax) {
		t.Errorf("syntax error: exit %d\n%s\nwant\n%s", code, errs, wantSyntax)
	}
	if code, _, errs := toolgateBin(t, dir, nil, "--config", bad, "serve"); code != ExitError || !strings.Contains(errs, bad+":3:4: value is not allowed in this context") {
		t.Errorf("serve with a syntax error: exit %d\n%s", code, errs)
	}

	good := filepath.Join(dir, "toolgate.yaml")
	writeFile(t, good, "listen: 127.0.0.1:9000\n")
	if code, out, errs := toolgateBin(t, dir, nil, "config", "validate"); code != 0 || !strings.Contains(out, good+" (from ./toolgate.yaml) is valid") {
		t.Errorf("valid: %d %q %q", code, out, errs)
	}
	if code, _, errs := toolgateBin(t, t.TempDir(), nil, "config", "validate"); code != ExitError || !strings.Contains(errs, "no configuration file to validate") {
		t.Errorf("nothing to validate: %d %q", code, errs)
	}
	if code, _, _ := toolgateBin(t, dir, nil, "config", "validate", "--config", good, good); code != ExitUsage {
		t.Errorf("FILE and --config: %d", code)
	}
}

// A global flag a command does not use is refused, not silently ignored.
func TestUnusedGlobalFlagsAreRefused(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, cfg, "{}\n")
	tests := [][]string{
		{"version", "--config", cfg},
		{"--data-dir", "/tmp/x", "version"},
		{"policy", "validate", "--data-dir", "/tmp/x", "testdata/policytest/pass"},
		{"policy", "test", "--log-level", "debug", "testdata/policytest/pass"},
		{"task", "list", "--log-format", "json"},
		{"config", "validate", "--data-dir", "/tmp/x", cfg},
	}
	for _, args := range tests {
		code, _, errs := toolgateBin(t, "", nil, args...)
		if code != ExitUsage || !strings.Contains(errs, "does not use --") {
			t.Errorf("%v: exit %d, %s", args, code, errs)
		}
	}
}

// --log-level and --log-format, else $TOOLGATE_LOG_LEVEL and
// $TOOLGATE_LOG_FORMAT, else the config's log section.
func TestLogFlagsAndEnvironment(t *testing.T) {
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "toolgate.yaml"), "log: {level: error}\n")
	run := func(env []string, args ...string) string {
		t.Helper()
		code, _, errs := toolgateBin(t, work, env, append(append([]string{"--data-dir", t.TempDir()}, args...), "run", "--", "sh", "-c", "cat >/dev/null")...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errs)
		}
		return errs
	}
	if errs := run(nil); strings.Contains(errs, "relaying") {
		t.Errorf("the config's level error still logged info:\n%s", errs)
	}
	if errs := run([]string{"TOOLGATE_LOG_LEVEL=info", "TOOLGATE_LOG_FORMAT=json"}); !strings.Contains(errs, `"msg":"toolgate run: relaying"`) {
		t.Errorf("environment:\n%s", errs)
	}
	if errs := run([]string{"TOOLGATE_LOG_LEVEL=error", "TOOLGATE_LOG_FORMAT=json"}, "--log-level", "info", "--log-format", "text"); !strings.Contains(errs, `msg="toolgate run: relaying"`) {
		t.Errorf("flags over the environment:\n%s", errs)
	}
	if code, _, errs := toolgateBin(t, work, nil, "run", "--log-level", "loud", "--", "true"); code != ExitUsage || !strings.Contains(errs, `--log-level: "loud" is not one of debug, info, warn, error`) {
		t.Errorf("bad flag: %d %s", code, errs)
	}
	if code, _, errs := toolgateBin(t, work, []string{"TOOLGATE_LOG_FORMAT=xml"}, "run", "--", "true"); code != ExitError || !strings.Contains(errs, `$TOOLGATE_LOG_FORMAT: "xml" is not one of text, json`) {
		t.Errorf("bad variable: %d %s", code, errs)
	}
}

// version names the commit it was built from, and prints JSON with --json.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "toolgate")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/toolgate/toolgate/internal/version.Version=v9.8.7 -X github.com/toolgate/toolgate/internal/version.Commit=0123456789abcdef0123", "-o", bin, "./cmd/toolgate")
	build.Dir = testutil.RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "toolgate v9.8.7 (0123456789ab) go1.") {
		t.Errorf("version: %v %q", err, out)
	}
	out, err = exec.Command(bin, "version", "--json").Output()
	var v struct{ Version, Commit, Go, OS, Arch string }
	if err != nil || json.Unmarshal(out, &v) != nil || v.Version != "v9.8.7" || v.Commit != "0123456789abcdef0123" || v.Go == "" || v.OS == "" {
		t.Errorf("version --json: %v %s", err, out)
	}
	// Without a stamped commit it says so.
	if code, out, _ := toolgateBin(t, "", nil, "version"); code != 0 || !strings.HasPrefix(out, "toolgate ") {
		t.Errorf("version: %d %q", code, out)
	}
}
