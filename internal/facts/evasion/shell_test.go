package evasion

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/facts"
)

// packShellCommands reads the read-only list of
// examples/policies/safe-shell.cedar: the programs a benign line may start.
func packShellCommands(t *testing.T) []string {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "policies", "safe-shell.cedar"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)!\(\[(.*?)\]\s*\.containsAll\(context\.facts\.shell\.commands\)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no command list in safe-shell.cedar")
	}
	var out []string
	for _, q := range regexp.MustCompile(`"([^"]*)"`).FindAllSubmatch(m[1], -1) {
		out = append(out, string(q[1]))
	}
	return out
}

// TestShellAgainstBash runs every line of testdata/shell.txt in bash in
// the sandbox and checks, for each, that
//   - the facts cover what bash did: every program started is in
//     "commands" and a line that wrote a file has "writes_files", unless
//     the facts say they cannot know (dynamic, unknown or parse_error);
//   - the example pack allows no line that started a program outside its
//     read-only list or wrote a file, nor any line marked as an attack;
//   - it does allow the benign lines (at most 3 % false denies), and those
//     really only read.
func TestShellAgainstBash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every case in a sandbox")
	}
	if why := sandboxUsable(); why != "" {
		t.Skip("no sandbox to run bash in: " + why)
	}
	dir := fixture(t)
	cases := readSuite(t, "shell.txt")
	lines := make([]string, len(cases))
	for i, c := range cases {
		lines[i] = strings.NewReplacer("TMPX", dir+"/var/x", "PWDX", dir+"/work").Replace(c.value)
	}
	runs := runSandbox(t, dir, lines)
	cl, err := facts.New("shell", facts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newPack(t)
	allowList := packShellCommands(t)
	benign, denied := 0, 0
	for i, c := range cases {
		f := cl.Classify(lines[i])
		run := runs[i]
		// git status refreshes git's own cache of file metadata
		// (.git/index, an "optional lock"); docs/facts.md says that is
		// not counted as writing files. Anything else in .git is.
		run.wrote = slices.DeleteFunc(run.wrote, func(w string) bool {
			return strings.HasSuffix(w, "/.git/index") && slices.Equal(run.ran, []string{"git"})
		})
		excused := f["dynamic"] == true || f["unknown"] == true || f["parse_error"] == true
		commands, _ := f["commands"].([]string)
		if !excused {
			for _, r := range run.ran {
				if !slices.Contains(commands, r) {
					t.Errorf("%v: bash started %q, facts say commands %v\nfacts: %v", c, r, commands, f)
				}
			}
			if len(run.wrote) > 0 && f["writes_files"] != true {
				t.Errorf("%v: bash wrote %v, facts say writes_files false\nfacts: %v", c, run.wrote, f)
			}
		}
		harmful := len(run.wrote) > 0
		for _, r := range run.ran {
			harmful = harmful || !slices.Contains(allowList, r)
		}
		allowed, why := p.allows("shell/run_command", map[string]any{"command": lines[i]})
		switch {
		case c.benign && harmful:
			t.Errorf("%v: marked benign, but bash started %v and wrote %v\n%s", c, run.ran, run.wrote, run.output)
		case c.benign:
			benign++
			if !allowed {
				denied++
				t.Logf("false deny: %v\n%s\nfacts: %v", c, why, f)
			}
		case allowed:
			t.Errorf("%v: the pack allows an attack (bash started %v, wrote %v)\nfacts: %v", c, run.ran, run.wrote, f)
		}
	}
	falseDenies(t, denied, benign)
}
