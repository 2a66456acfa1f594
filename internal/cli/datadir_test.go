package cli

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/mcp/pin"
)

// snapshot lists every file below dir with its mode, size and
// modification time.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			// A directory's time changes when SQLite opens and removes
			// its transient -shm and -wal files; what is in it counts.
			out = append(out, rel+"/")
			return nil
		}
		out = append(out, fmt.Sprintf("%s %s %d %s", rel, info.Mode(), info.Size(), info.ModTime().Format(time.RFC3339Nano)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

var readCommands = [][]string{
	{"approval", "list"},
	{"approval", "show", "apv_x"},
	{"task", "list"},
	{"pin", "list"},
	{"pin", "list", "fs"},
	{"audit", "verify"},
	{"audit", "tail"},
	{"audit", "query"},
	{"audit", "export"},
}

// A command that reads the data directory creates nothing: a mistyped
// --data-dir (or $TOOLGATE_DATA_DIR) is an error that names the directory,
// not a new directory with keys and a database.
func TestReadCommandsOnAMissingDataDir(t *testing.T) {
	base := t.TempDir()
	typo := filepath.Join(base, "typo")
	commands := append(append([][]string(nil), readCommands...),
		[]string{"approval", "approve", "apv_x"}, []string{"approval", "deny", "apv_x"},
		[]string{"task", "revoke", "tsk_x"}, []string{"task", "delegate", "--token", "x.y.z", "--agent", "b"},
		[]string{"pin", "accept", "fs"})
	for _, args := range commands {
		code, _, errs := toolgateBin(t, "", nil, append([]string{"--data-dir", typo}, args...)...)
		if code != ExitError || !strings.Contains(errs, "data directory "+typo+" does not exist (from --data-dir)") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
		code, _, errs = toolgateBin(t, "", []string{"TOOLGATE_DATA_DIR=" + typo}, args...)
		if code != ExitError || !strings.Contains(errs, "(from $TOOLGATE_DATA_DIR)") {
			t.Errorf("%v with $TOOLGATE_DATA_DIR: exit %d, stderr %q", args, code, errs)
		}
		if _, err := os.Stat(typo); !os.IsNotExist(err) {
			t.Fatalf("%v created the data directory", args)
		}
	}
}

// In a data directory that exists, reading changes nothing there: no key,
// no database, no lock file.
func TestReadCommandsChangeNothing(t *testing.T) {
	empty := t.TempDir()
	for _, args := range readCommands {
		code, _, errs := toolgateBin(t, "", nil, append([]string{"--data-dir", empty}, args...)...)
		if args[0] == "pin" && len(args) == 2 {
			if code != 0 {
				t.Errorf("%v in an empty data directory: exit %d, %s", args, code, errs)
			}
		} else if code != ExitError {
			t.Errorf("%v in an empty data directory: exit %d, %s", args, code, errs)
		}
		if entries, _ := os.ReadDir(empty); len(entries) != 0 {
			t.Fatalf("%v wrote %v into an empty data directory", args, entries)
		}
	}

	// A data directory with a task in it (and so keys and a database).
	dir := t.TempDir()
	if code, _, errs := toolgateBin(t, "", nil, "--data-dir", dir, "task", "create", "--agent", "a", "--purpose", "p", "--tool", "fs/*"); code != 0 {
		t.Fatalf("task create: %d %s", code, errs)
	}
	before := snapshot(t, dir)
	for _, args := range readCommands {
		toolgateBin(t, "", nil, append([]string{"--data-dir", dir}, args...)...)
		if after := snapshot(t, dir); after != before {
			t.Fatalf("%v changed the data directory:\nbefore:\n%s\nafter:\n%s", args, before, after)
		}
	}
}

// A trail nothing has been written to yet verifies, in a data directory
// made by `task create` (no trail keys yet) as in one made by `serve`.
// Records without their public key do not.
func TestAuditVerifyOfAFreshTrail(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := toolgateBin(t, "", nil, "--data-dir", dir, "task", "create", "--agent", "a", "--purpose", "p", "--tool", "fs/*"); code != 0 {
		t.Fatalf("task create: %d %s", code, errs)
	}
	code, out, errs := toolgateBin(t, "", nil, "--data-dir", dir, "audit", "verify")
	if code != 0 || !strings.Contains(out, "OK: ") || !strings.Contains(out, "an empty trail") {
		t.Errorf("verify of a fresh trail: exit %d\n%s%s", code, out, errs)
	}

	// Records, then the public key gone.
	dir = t.TempDir()
	tr := seedTrail(t, dir)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := toolgateBin(t, "", nil, "--data-dir", dir, "audit", "verify"); code != 0 {
		t.Fatalf("verify: %d %s %s", code, out, errs)
	}
	if err := os.Remove(filepath.Join(dir, "audit-signing.pub")); err != nil {
		t.Fatal(err)
	}
	code, out, errs = toolgateBin(t, "", nil, "--data-dir", dir, "audit", "verify")
	if code != ExitError || !strings.Contains(errs, "no public key to check them") {
		t.Errorf("verify without the key: exit %d\n%s%s", code, out, errs)
	}
}

// On a terminal, lists are coloured and audit records a table; piped, there
// are no escape codes and audit records are JSON lines as stored; --json
// prints JSON either way.
func TestOutputOnATerminalAndPiped(t *testing.T) {
	dir := t.TempDir()
	tr := seedTrail(t, dir)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := toolgateBin(t, "", nil, "--data-dir", dir, "task", "create", "--agent", "a", "--purpose", "p", "--tool", "fs/*"); code != 0 {
		t.Fatal(errs)
	}
	ps, _ := pin.Open(dir, "fs")
	d, _ := pin.Define(json.RawMessage(`{"name":"read","description":"v1"}`))
	if _, err := ps.Check([]pin.Definition{d}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"task", "list"}, {"pin", "list"}, {"audit", "tail"}, {"approval", "list", "--all"}} {
		args = append([]string{"--data-dir", dir}, args...)
		_, tty := onTerminal(t, "", nil, args...)
		_, piped, errs := toolgateBin(t, "", nil, args...)
		if strings.Contains(piped, "\x1b[") || piped == "" {
			t.Errorf("%v piped: %q %s", args, piped, errs)
		}
		if args[2] != "approval" && !strings.Contains(tty, "\x1b[") {
			t.Errorf("%v on a terminal has no colour: %q", args, tty)
		}
		_, js, _ := toolgateBin(t, "", nil, append(args, "--json")...)
		if args[2] == "audit" {
			// JSON lines, as piped.
			if js != piped || !json.Valid([]byte(strings.Split(js, "\n")[0])) {
				t.Errorf("audit tail --json: %q", js)
			}
			if !strings.Contains(tty, "SEQ") || !strings.Contains(tty, "agent-1") {
				t.Errorf("audit tail on a terminal is not a table: %q", tty)
			}
			continue
		}
		if !json.Valid([]byte(js)) {
			t.Errorf("%v --json: %q", args, js)
		}
	}
}
