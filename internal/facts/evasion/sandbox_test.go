package evasion

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// execution is what a command line did when bash ran it in the sandbox.
type execution struct {
	ran    []string // programs started, named as commandName names them
	wrote  []string // files created, changed or removed, anywhere
	output string
}

// sandboxUsable says why the sandbox cannot run here, or "".
func sandboxUsable() string {
	if os.Geteuid() != 0 {
		return "the sandbox needs root (mount, PID and network namespaces)"
	}
	for _, p := range []string{"setpriv", "unshare", "strace", "chroot", "bash", "mknod"} {
		if _, err := exec.LookPath(p); err != nil {
			return p + " is not installed"
		}
	}
	if err := exec.Command("unshare", "-m", "-p", "-f", "-n", "--propagation", "private", "true").Run(); err != nil {
		return "namespaces are not available: " + err.Error()
	}
	return ""
}

// fixture is the directory the sandbox runs cases in: bin/ holds the
// payload programs the attacks try to start (harmless), work/ is the
// working directory with a few files and a git repository, and programs
// named like system commands (./ls).
func fixture(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"bin", "work/src", "work/sub", "home", "cases", "var/x"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\nexit 0\n"
	files := map[string]string{
		"bin/pwned": script, "bin/evil": script,
		"work/ls": script, "work/cat": script, "work/sub/grep": script, "var/x/cat": script,
		"work/a.txt": "alpha\nbeta\ngamma\nbeta\n", "work/b.txt": "beta\ndelta\n", "work/data.csv": "id,name\n2,b\n1,a\n",
		"work/src/main.go": "package main\n\nfunc main() {}\n", "work/README.md": "# demo\nTODO: more\n",
		"work/conf.json": `{"a": 1, "items": [1, 2, 3]}` + "\n", "work/notes.log": "ERROR one\nINFO two\nERROR three\n",
		// "hello\n" compressed by zstd: file -z runs zstd to look inside.
		"work/h.zst": "\x28\xb5\x2f\xfd\x04\x58\x31\x00\x00\x68\x65\x6c\x6c\x6f\x0a\x53\x88\xbd\x91",
	}
	for name, body := range files {
		mode := os.FileMode(0o644)
		if body == script {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = filepath.Join(dir, "work")
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com", "HOME="+dir+"/home")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", "a.txt", "b.txt", "src", "README.md")
	git("commit", "-qm", "first")
	git("status", "--short")
	return dir
}

var execveRE = regexp.MustCompile(`^\d+ +execve\("((?:[^"\\]|\\.)*)"`)

// runSandbox runs every line in bash in the sandbox and reports what each
// did. See testdata/sandbox.sh.
func runSandbox(t testing.TB, dir string, lines []string) []execution {
	t.Helper()
	return runSandboxFor(t, dir, lines, 60)
}

// runSandboxFor is runSandbox with each case killed after seconds.
func runSandboxFor(t testing.TB, dir string, lines []string, seconds int) []execution {
	t.Helper()
	// Cases of an earlier call must not run again.
	cases := filepath.Join(dir, "cases")
	if err := os.RemoveAll(cases); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(cases, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		if err := os.WriteFile(filepath.Join(dir, "cases", fmt.Sprintf("%04d", i)), []byte(l), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs(filepath.Join("testdata", "sandbox.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// The deadline only keeps a broken case from hanging the test run.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// The namespaces do not keep root from the machine's clock, modules or
	// reboot: the commands run without those capabilities at all (a case
	// such as `date -s 2001-01-01` once set this machine's clock back).
	cmd := exec.CommandContext(ctx, "setpriv", "--bounding-set", "-sys_time,-sys_boot,-sys_module,-wake_alarm,-sys_rawio",
		"unshare", "-m", "-p", "-f", "-n", "--propagation", "private", "sh", script, dir)
	cmd.Env = append(os.Environ(), "CASE_SECONDS="+strconv.Itoa(seconds))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sandbox: %v\n%s", err, stderr.String())
	}
	res := make([]execution, len(lines))
	var cur *execution
	section, execs := "", 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "=== "):
			n, err := strconv.Atoi(l[4:])
			cur, section, execs = nil, "", 0
			if err == nil && n < len(res) {
				cur = &res[n]
			}
			continue
		case strings.HasPrefix(l, "--- "):
			section = l[4:]
			continue
		}
		if cur == nil {
			continue
		}
		switch section {
		case "ran":
			m := execveRE.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			// The first four are the sandbox's own: env, bash, the cat
			// reading the case, and the bash running it.
			if execs++; execs <= 4 {
				continue
			}
			p, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				p = m[1]
			}
			cur.ran = append(cur.ran, programName(dir, p))
		case "wrote":
			if l != "" {
				cur.wrote = append(cur.wrote, l)
			}
		case "output":
			cur.output += strings.TrimPrefix(l, "| ") + "\n"
		}
	}
	return res
}

// programName names a started program the way the shell classifier names
// commands: by name when found in a system directory (or the fixture's
// bin, which is first in PATH), by path otherwise.
func programName(dir, p string) string {
	d, base := path.Split(path.Clean(p))
	switch strings.TrimSuffix(d, "/") {
	case "/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin", dir + "/bin":
		return base
	}
	return p
}

// TestSandboxConfines checks that the sandbox keeps the cases from the
// machine: they run with no capabilities and cannot gain any, cannot
// write kernel settings, make devices, mount, chroot or name the host.
// Every probe is harmless should it get through (it writes back the value
// it read, names the host by its own name), and the test then fails.
func TestSandboxConfines(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sandbox")
	}
	if why := sandboxUsable(); why != "" {
		t.Skip("no sandbox: " + why)
	}
	probes := []string{
		"grep -E '^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status",
		"cat /proc/sys/kernel/printk_ratelimit > /proc/sys/kernel/printk_ratelimit && echo ESCAPED-sysctl",
		"mknod /dev/probe b 8 0 && echo ESCAPED-mknod",
		"mount -t tmpfs probe /mnt && echo ESCAPED-mount",
		"mount -o remount,rw /proc && echo ESCAPED-remount",
		"chroot / true && echo ESCAPED-chroot",
		`hostname "$(hostname)" && echo ESCAPED-hostname`,
		"unshare -U -r true && echo ESCAPED-userns",
		"ls /sys/class 2>/dev/null | head -1 | grep -q . && echo ESCAPED-sysfs",
	}
	runs := runSandbox(t, fixture(t), probes)
	for i, r := range runs {
		if strings.Contains(r.output, "ESCAPED-") {
			t.Errorf("%q got through the sandbox:\n%s", probes[i], r.output)
		}
	}
	status := runs[0].output
	for _, want := range []string{"CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000",
		"CapAmb:\t0000000000000000", "NoNewPrivs:\t1"} {
		if !strings.Contains(status, want) {
			t.Errorf("a case runs with %q missing from its status:\n%s", want, status)
		}
	}
}
