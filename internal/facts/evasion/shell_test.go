package evasion

import (
	"fmt"
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

// excused reports facts that say they cannot know what the line does.
func excused(f facts.Facts) bool {
	return f["dynamic"] == true || f["unknown"] == true || f["parse_error"] == true
}

// shellMisses lists what bash did (run) that the facts f of the line do
// not cover: a program started that is not among commands, a file written
// while writes_files is false. Facts that are excused cover everything.
func shellMisses(f facts.Facts, run *execution) []string {
	// git status refreshes git's own cache of file metadata (.git/index,
	// an "optional lock"); docs/facts.md says that is not counted as
	// writing files. Anything else in .git is.
	run.wrote = slices.DeleteFunc(run.wrote, func(w string) bool {
		return strings.HasSuffix(w, "/.git/index") && slices.Equal(run.ran, []string{"git"})
	})
	if excused(f) {
		return nil
	}
	var out []string
	commands, _ := f["commands"].([]string)
	for _, r := range run.ran {
		if !slices.Contains(commands, r) {
			out = append(out, fmt.Sprintf("bash started %q, facts say commands %v", r, commands))
		}
	}
	if len(run.wrote) > 0 && f["writes_files"] != true {
		out = append(out, fmt.Sprintf("bash wrote %v, facts say writes_files false", run.wrote))
	}
	return out
}

// FuzzShellAgainstBash runs lines in bash in the sandbox and checks that
// the facts cover what bash did (shellMisses). A line whose facts say
// they cannot know is not run. Seeds: testdata/fuzz/FuzzShellAgainstBash.
func FuzzShellAgainstBash(f *testing.F) {
	if testing.Short() {
		f.Skip("runs bash in a sandbox")
	}
	if why := sandboxUsable(); why != "" {
		f.Skip("no sandbox to run bash in: " + why)
	}
	dir := fixture(f)
	cl, err := facts.New("shell", facts.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		// A tool hands the line to bash as one argument, which holds
		// no NUL; bash takes a CR as a character (the facts: a parse
		// error).
		if strings.ContainsRune(line, 0) || len(line) > 4096 {
			return
		}
		fs := cl.Classify(line)
		if excused(fs) {
			return
		}
		// The fuzzing engine takes an input that runs for 10 s as a
		// hang: a line that runs long (find /, sleep) is cut short, and
		// what it did until then is checked.
		run := runSandboxFor(t, dir, []string{line}, 4)[0]
		for _, miss := range shellMisses(fs, &run) {
			t.Errorf("%q: %s\nfacts: %v\noutput: %s", line, miss, fs, run.output)
		}
	})
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
		for _, miss := range shellMisses(f, &run) {
			t.Errorf("%v: %s\nfacts: %v", c, miss, f)
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
