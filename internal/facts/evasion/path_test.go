package evasion

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/toolgate/toolgate/internal/facts"
)

// pathTree builds the tree the path suite runs on: a workspace ws with
// files, sensitive files, and symbolic links that lead in, out, nowhere
// (dangling, in and out) and round in a loop; and outside/, a directory
// next to it. It returns the directory holding both.
func pathTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ws, out := filepath.Join(dir, "ws"), filepath.Join(dir, "outside")
	for _, d := range []string{"ws/sub/deep", "ws/.ssh", "ws/.git/hooks", "outside/deep", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ws/a.txt", "ws/sub/b.txt", "ws/sub/deep/c.txt", "ws/notes.md", "ws/.env", "ws/.ssh/id_rsa",
		"ws/.git/config", "outside/secret.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"ws/link-out":         out,
		"ws/link-out-rel":     "../outside",
		"ws/twice":            "link-out",
		"ws/sub/rel-out":      "../../outside",
		"ws/root":             "/",
		"ws/etc":              "/etc",
		"ws/home-out":         filepath.Join(dir, "home"),
		"ws/link-file-out":    "../outside/secret.txt",
		"ws/link-in":          "sub",
		"ws/link-in-abs":      filepath.Join(ws, "sub"),
		"ws/link-file-in":     "a.txt",
		"ws/twice-in":         "link-in",
		"ws/link-env":         ".env",
		"ws/self":             ".",
		"ws/up":               "..",
		"ws/sub/up":           "..",
		"ws/sub/upup":         "../..",
		"ws/loop":             "loop",
		"ws/dangling-out":     filepath.Join(out, "new.txt"),
		"ws/dangling-out-rel": "../outside/new.txt",
		"ws/dangling-chain":   "dangling-out",
		"ws/dangling-chain2":  "dangling-chain",
		"ws/dangling-dir":     filepath.Join(out, "newdir"),
		"ws/dangling-in":      "sub/new-in.txt",
		"ws/dangling-abs-etc": "/etc/toolgate-test-new",
		"ws/dangling-dotdot":  "nothere/../../outside/new.txt",
		"ws/sub/dangling-sub": "../../outside/new.txt",
		"ws/sub/dangling-up":  "../dangling-out",
		"outside/ws2":         ws,
		// Links to links and through links, relative and absolute.
		"ws/sub/to-out-deep":    "../link-out-rel/deep",
		"ws/tricky":             "sub/../link-out",
		"ws/dangling-via-link":  "link-out/nodir/new.txt",
		"ws/dangling-via-link2": "link-out-rel/new2.txt",
		"ws/in-then-out":        "sub/rel-out",
		"ws/out-then-in":        "../outside/ws2/a.txt",
		"ws/sub/deep/up3":       "../../..",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// landing is where the kernel takes a path when a tool reads it and when
// it creates a file there: the resolved path of the opened file, or "" if
// the open failed.
func landing(t *testing.T, p string, flags int) string {
	t.Helper()
	_, statErr := os.Lstat(p)
	f, err := os.OpenFile(p, flags, 0o644)
	if err != nil {
		if errors.Is(err, syscall.EISDIR) {
			if f, err = os.Open(p); err != nil {
				return ""
			}
		} else {
			return ""
		}
	}
	defer f.Close()
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	if flags&os.O_CREATE != 0 && statErr != nil {
		// Created here: remove what was made, so the tree stays as it was
		// for the next case (a dangling link must stay dangling).
		defer os.Remove(real)
	}
	return real
}

func within(p, root string) bool {
	return p == root || strings.HasPrefix(p, root+"/")
}

// TestPathsAgainstKernel checks, for every path of testdata/path.txt on a
// real tree: the kernel takes a path the facts call inside (for reading
// and for creating a file) to a place inside the workspace, and to the
// place the facts call "resolved"; the example pack allows no attack; and
// it allows the benign paths (at most 3 % false denies).
func TestPathsAgainstKernel(t *testing.T) {
	dir := pathTree(t)
	ws, out := filepath.Join(dir, "ws"), filepath.Join(dir, "outside")
	cl, err := facts.New("path", facts.Options{Roots: []string{ws}, HomeDir: filepath.Join(dir, "home")})
	if err != nil {
		t.Fatal(err)
	}
	p := newPack(t, ws)
	benign, denied := 0, 0
	for _, c := range readSuite(t, "path.txt") {
		s := strings.NewReplacer("WS", ws, "OUT", out).Replace(c.value)
		f := cl.Classify(s)
		// What the kernel does with the string as given (tools that do not
		// decode or expand it).
		kernel := s
		if !strings.HasPrefix(kernel, "/") {
			kernel = ws + "/" + kernel
		}
		if strings.IndexByte(s, 0) < 0 && s != "" && !strings.HasPrefix(s, "~") && !strings.HasPrefix(strings.ToLower(s), "file:") {
			for _, flags := range []int{os.O_RDONLY, os.O_WRONLY | os.O_CREATE} {
				// Tools that clean a path before opening it take it
				// where the kernel takes the cleaned form.
				if land := landing(t, filepath.Clean(kernel), flags); land != "" && f["inside"] == true && !within(land, ws) {
					t.Errorf("%v: facts say inside, the cleaned path lands at %s (flags %#x)\nfacts: %v", c, land, flags, f)
				}
				land := landing(t, kernel, flags)
				if land == "" {
					continue
				}
				if f["inside"] == true && !within(land, ws) {
					t.Errorf("%v: facts say inside, the kernel lands at %s (flags %#x)\nfacts: %v", c, land, flags, f)
				}
				if f["parse_error"] != true && f["resolved"] != land && !strings.ContainsAny(s, "%\\\uff0e\uff0f") && flags != os.O_RDONLY {
					t.Errorf("%v: facts say resolved %v, the kernel lands at %s\nfacts: %v", c, f["resolved"], land, f)
				}
				if c.benign && !within(land, ws) {
					t.Errorf("%v: marked benign, but the kernel lands at %s", c, land)
				}
			}
		}
		for _, tool := range []string{"fs/read_file", "fs/write_file"} {
			allowed, why := p.allows(tool, map[string]any{"path": s})
			switch {
			case c.benign && !allowed:
				denied++
				t.Logf("false deny: %s %v\n%s\nfacts: %v", tool, c, why, f)
			case !c.benign && allowed:
				t.Errorf("%s %v: the pack allows an attack\nfacts: %v", tool, c, f)
			}
			if c.benign {
				benign++
			}
		}
	}
	falseDenies(t, denied, benign)
}
