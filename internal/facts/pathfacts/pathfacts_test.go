package pathfacts

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/toolgate/toolgate/internal/facts"
	"github.com/toolgate/toolgate/internal/facts/factstest"
)

type F = map[string]any

// fixture lays out a workspace root with symlinks that lead in and out.
func fixture(t testing.TB) (dir, ws string) {
	dir = t.TempDir()
	dir, _ = filepath.EvalSymlinks(dir)
	ws = filepath.Join(dir, "ws")
	for _, d := range []string{"ws/sub/deep", "outside", "ws/.git"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ws/a.txt", "outside/secret.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"ws/out":      filepath.Join(dir, "outside"),
		"ws/in":       filepath.Join(ws, "sub"),
		"ws/rel":      "../outside/secret.txt",
		"ws/loop":     "loop",
		"ws/sub/up":   "..",
		"outside/ws2": ws,
		// Dangling links: creating a file through them creates the target.
		"ws/dangling":       filepath.Join(dir, "outside", "new.txt"),
		"ws/dangling-rel":   "../outside/new.txt",
		"ws/dangling-chain": "dangling",
		"ws/dangling-dir":   filepath.Join(dir, "outside", "newdir"),
		"ws/dangling-in":    "sub/new.txt",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, ws
}

func TestClassify(t *testing.T) {
	dir, ws := fixture(t)
	c, err := New(facts.Options{Roots: []string{ws}, HomeDir: "/home/agent"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		want       F
	}{
		{"file in root", ws + "/a.txt", F{"inside": true, "root": ws, "path": ws + "/a.txt", "sensitive": false}},
		{"root itself", ws, F{"inside": true}},
		{"root with trailing slash", ws + "/", F{"inside": true, "path": ws}},
		{"new file in root", ws + "/new/file.txt", F{"inside": true, "resolved": ws + "/new/file.txt"}},
		{"relative", "sub/x.txt", F{"inside": true, "path": ws + "/sub/x.txt"}},
		{"dot relative", "./a.txt", F{"inside": true}},
		{"dotdot out", ws + "/../outside/secret.txt", F{"inside": false, "path": dir + "/outside/secret.txt", "root": ""}},
		{"relative dotdot out", "../../etc/passwd", F{"inside": false}},
		{"dotdot stays in", ws + "/sub/../a.txt", F{"inside": true, "path": ws + "/a.txt"}},
		{"many dotdots", ws + "/sub/deep/../../../../../../etc/passwd", F{"inside": false, "path": "/etc/passwd", "sensitive": true}},
		{"sibling prefix", ws + "2/x", F{"inside": false}},
		{"sibling prefix dashes", ws + "-old/x", F{"inside": false}},
		{"symlink out", ws + "/out/secret.txt", F{"inside": false, "resolved": dir + "/outside/secret.txt"}},
		{"symlink out new file", ws + "/out/new.txt", F{"inside": false}},
		{"relative symlink out", ws + "/rel", F{"inside": false, "resolved": dir + "/outside/secret.txt"}},
		{"symlink in", ws + "/in/x", F{"inside": true}},
		{"symlink then dotdot follows target", ws + "/out/../secret.txt", F{"inside": false, "path": ws + "/secret.txt"}},
		{"symlink dotdot back in", ws + "/out/../ws/a.txt", F{"inside": true}},
		{"symlink dir up", ws + "/sub/up/a.txt", F{"inside": true}},
		{"outside link into root", dir + "/outside/ws2/a.txt", F{"inside": false}},
		{"dangling link to outside", ws + "/dangling", F{"inside": false, "resolved": dir + "/outside/new.txt"}},
		{"dangling relative link", ws + "/dangling-rel", F{"inside": false, "resolved": dir + "/outside/new.txt"}},
		{"link to a dangling link", ws + "/dangling-chain", F{"inside": false, "resolved": dir + "/outside/new.txt"}},
		{"under a dangling directory link", ws + "/dangling-dir/x.txt", F{"inside": false, "resolved": dir + "/outside/newdir/x.txt"}},
		{"dangling link that stays inside", ws + "/dangling-in", F{"inside": true, "resolved": ws + "/sub/new.txt"}},
		// A tool that cleans the path first opens ws/dangling; the kernel
		// would fail on the missing directory. Both readings count.
		{"missing directory then .. to a dangling link", ws + "/nothere/../dangling", F{"inside": false}},
		{"missing directory then .. to a link", ws + "/a/b/../../out/secret.txt", F{"inside": false}},
		{"symlink loop (the kernel would fail: ELOOP)", ws + "/loop/x", F{"inside": false, "parse_error": true}},
		{"percent encoded dotdot", ws + "/%2e%2e/outside/secret.txt", F{"inside": false}},
		{"percent encoded slash", ws + strings.Repeat("/..%2f", 12) + "etc%2fpasswd", F{"inside": false, "sensitive": true}},
		{"double encoded", ws + strings.Repeat("/%252e%252e", 12) + "/etc/shadow", F{"inside": false, "sensitive": true, "sensitive_kind": "shadow"}},
		{"uppercase encoded", ws + "/%2E%2E/x", F{"inside": false}},
		{"encoded nul", ws + "/a.txt%00.png", F{"parse_error": true, "inside": false}},
		{"raw nul", ws + "/a.txt\x00.png", F{"parse_error": true}},
		{"backslash traversal", ws + strings.Repeat(`\..`, 12) + `\etc\passwd`, F{"inside": false, "sensitive": true}},
		{"fullwidth dots", ws + "/\uff0e\uff0e/outside", F{"inside": false}},
		{"one dot leader", ws + "/\u2025/outside", F{"inside": false}},
		{"path as the kernel reads it (not normalised)", ws + "/cafe\u0301.txt", F{"inside": true, "path": ws + "/cafe\u0301.txt"}},
		{"overlong UTF-8 dot", ws + "/%c0%ae%c0%ae/x", F{"inside": false, "parse_error": true}},
		{"tilde home", "~/.ssh/id_ed25519", F{"path": "/home/agent/.ssh/id_ed25519", "inside": false, "sensitive": true, "sensitive_kind": "ssh"}},
		{"tilde alone", "~", F{"path": "/home/agent"}},
		{"tilde user refused", "~root/.bashrc", F{"parse_error": true}},
		{"file url", "file://" + ws + "/a.txt", F{"inside": true, "path": ws + "/a.txt"}},
		{"file url localhost", "file://localhost" + ws + "/a.txt", F{"inside": true}},
		{"file url remote host", "file://evil.com/etc/passwd", F{"parse_error": true}},
		{"file url encoded traversal", "file://" + ws + "/%2e%2e/outside", F{"inside": false}},
		{"windows drive", `C:\Windows\System32`, F{"parse_error": true}},
		{"unc", `\\server\share\x`, F{"parse_error": true}},
		{"empty", "", F{"parse_error": true}},
		{"dotenv", ws + "/.env", F{"inside": true, "sensitive": true, "sensitive_kind": "env"}},
		{"dotenv local", ws + "/.env.local", F{"sensitive_kind": "env"}},
		{"dotenv example", ws + "/.env.example", F{"sensitive": false}},
		{"ssh dir uppercase", "/home/u/.SSH/ID_RSA", F{"sensitive_kind": "ssh"}},
		{"aws credentials", "/root/.aws/credentials", F{"sensitive_kind": "cloud_credentials"}},
		{"gcloud adc", "/home/u/.config/gcloud/application_default_credentials.json", F{"sensitive_kind": "cloud_credentials"}},
		{"shadow", "/etc/shadow", F{"sensitive_kind": "shadow"}},
		{"sudoers.d", "/etc/sudoers.d/90-agent", F{"sensitive_kind": "sudoers"}},
		{"git config in repo", ws + "/.git/config", F{"sensitive_kind": "git_config", "inside": true}},
		{"git hook", ws + "/.git/hooks/pre-commit", F{"sensitive_kind": "git_config"}},
		{"kube config", "/home/u/.kube/config", F{"sensitive_kind": "kube"}},
		{"service account token", "/var/run/secrets/kubernetes.io/serviceaccount/token", F{"sensitive_kind": "kube"}},
		{"docker socket", "/var/run/docker.sock", F{"sensitive_kind": "docker"}},
		{"netrc", "/home/u/.netrc", F{"sensitive_kind": "netrc"}},
		{"pem key", ws + "/certs/server.key", F{"sensitive_kind": "private_key"}},
		{"bashrc", "/home/u/.bashrc", F{"sensitive_kind": "shell_startup"}},
		{"proc environ", "/proc/self/environ", F{"sensitive_kind": "proc"}},
		{"tfstate", ws + "/terraform.tfstate", F{"sensitive_kind": "terraform_state"}},
		{"ordinary file", "/usr/share/doc/README", F{"sensitive": false, "sensitive_kind": ""}},
		{"symlink to sensitive", ws + "/rel", F{"sensitive": false}},
		{"double slash", ws + "//sub///x", F{"inside": true, "path": ws + "/sub/x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			factstest.Check(t, c.Classify(tc.path), tc.want)
		})
	}
}

func TestSymlinkToSensitive(t *testing.T) {
	dir, ws := fixture(t)
	if err := os.MkdirAll(filepath.Join(dir, "home/.ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "home/.ssh"), filepath.Join(ws, "keys")); err != nil {
		t.Fatal(err)
	}
	c, _ := New(facts.Options{Roots: []string{ws}})
	factstest.Check(t, c.Classify(ws+"/keys/id_rsa"), F{"inside": false, "sensitive": true, "sensitive_kind": "ssh"})
}

func TestRootsAndOptions(t *testing.T) {
	_, ws := fixture(t)
	none, _ := New(facts.Options{})
	factstest.Check(t, none.Classify(ws+"/a.txt"), F{"inside": false, "root": ""})
	two, _ := New(facts.Options{Roots: []string{"/nonexistent/data", ws}})
	factstest.Check(t, two.Classify("/nonexistent/data/x/../y"), F{"inside": true, "root": "/nonexistent/data"})
	factstest.Check(t, two.Classify(ws+"/a.txt"), F{"inside": true, "root": ws})
	rootAll, _ := New(facts.Options{Roots: []string{"/"}})
	factstest.Check(t, rootAll.Classify("/etc/passwd"), F{"inside": true})
	if _, err := New(facts.Options{Roots: []string{""}}); err == nil {
		t.Error("empty root accepted")
	}
	small, _ := New(facts.Options{Roots: []string{ws}, MaxInputBytes: 10})
	factstest.Check(t, small.Classify(ws+"/a.txt"), F{"parse_error": true, "inside": false})
	deep, _ := New(facts.Options{Roots: []string{ws}})
	factstest.Check(t, deep.Classify(ws+strings.Repeat("/x", 300)), F{"parse_error": true, "inside": false})
}

func TestMerge(t *testing.T) {
	_, ws := fixture(t)
	c, _ := New(facts.Options{Roots: []string{ws}})
	in, out := c.Classify(ws+"/a.txt"), c.Classify("/etc/shadow")
	factstest.Check(t, facts.Merge(Name, []facts.Facts{in, out}), F{"inside": false, "sensitive": true, "sensitive_kind": "shadow", "paths": []string{ws + "/a.txt", "/etc/shadow"}, "root": ""})
	factstest.Check(t, facts.Merge(Name, []facts.Facts{in, c.Classify(ws + "/sub/b")}), F{"inside": true, "root": ws})
	factstest.Check(t, Merge(nil), F{"inside": false})
	factstest.Check(t, facts.Merge(Name, []facts.Facts{in, c.Classify("")}), F{"inside": false, "parse_error": true})
}

func FuzzClassify(f *testing.F) {
	_, ws := fixture(f)
	for _, s := range []string{ws + "/a.txt", "../x", "~/.ssh/id_rsa", ws + "/%2e%2e/x", "file:///etc/passwd", ws + "/out/x",
		"dangling", "dangling-in", "sub/up/dangling-dir/x", "in/../dangling-rel"} {
		f.Add(s)
	}
	c, _ := New(facts.Options{Roots: []string{ws}, HomeDir: "/home/u"})
	f.Fuzz(func(t *testing.T, s string) {
		out := c.Classify(s)
		if err := factstest.Types(out); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if out["inside"] == true {
			p, _ := out["path"].(string)
			r, _ := out["resolved"].(string)
			if !within(p, ws) || !within(r, ws) {
				t.Fatalf("%q: inside but path %q resolved %q", s, p, r)
			}
			// The kernel agrees: opening the string as given, and its
			// cleaned form (tools that clean paths first), to read and to
			// create a file, lands inside; the string as given lands where
			// resolved says.
			raw := s
			if !strings.HasPrefix(raw, "/") {
				raw = ws + "/" + raw
			}
			plain := !strings.ContainsAny(s, "%\\~") && !strings.HasPrefix(strings.ToLower(s), "file:") && norm.NFKC.String(s) == s
			for _, flags := range []int{os.O_RDONLY, os.O_WRONLY | os.O_CREATE} {
				if land := kernelLanding(t, p, flags); land != "" && !within(land, ws) {
					t.Fatalf("%q: inside, the kernel takes the cleaned path %q to %q", s, p, land)
				}
				if !plain {
					continue
				}
				if land := kernelLanding(t, raw, flags); land != "" && (!within(land, ws) || (flags != os.O_RDONLY && land != r)) {
					t.Fatalf("%q: inside, resolved %q, the kernel lands at %q", s, r, land)
				}
			}
			if strings.Contains(s, "%") {
				// Every decoded reading must be inside too.
				if dec, err := decodeAll(s); err == nil && !strings.HasPrefix(dec, "~") && !strings.HasPrefix(strings.ToLower(dec), "file:") {
					abs := dec
					if !strings.HasPrefix(abs, "/") {
						abs = ws + "/" + abs
					}
					if !within(filepath.Clean(abs), ws) {
						t.Fatalf("%q: inside, but decodes to %q", s, dec)
					}
				}
			}
		}
	})
}

// kernelLanding opens p and returns where the kernel took it ("" if the
// open failed); a file it created is removed again.
func kernelLanding(t *testing.T, p string, flags int) string {
	_, statErr := os.Lstat(p)
	f, err := os.OpenFile(p, flags, 0o644)
	if err != nil {
		return ""
	}
	defer f.Close()
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	if flags&os.O_CREATE != 0 && statErr != nil {
		defer os.Remove(real)
	}
	return real
}

func decodeAll(s string) (string, error) {
	for i := 0; i < maxDecode; i++ {
		d, err := urlPathUnescape(s)
		if err != nil || d == s {
			return s, err
		}
		s = d
	}
	return s, nil
}

func BenchmarkClassify(b *testing.B) {
	_, ws := fixture(b)
	c, _ := New(facts.Options{Roots: []string{ws}})
	p := ws + "/sub/deep/report.txt"
	b.ReportAllocs()
	for b.Loop() {
		c.Classify(p)
	}
}

func BenchmarkExisting(b *testing.B) {
	_, ws := fixture(b)
	c, _ := New(facts.Options{Roots: []string{ws}})
	p := ws + "/a.txt"
	b.ReportAllocs()
	for b.Loop() {
		c.Classify(p)
	}
}
