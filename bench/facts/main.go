// Command facts measures the argument classifiers one call at a time, the
// way the pipeline calls them: for each classifier, typical inputs in turn
// for a number of rounds, and prints p50, p90, p99 and max per input
// class; then the slowest shapes at the maximum input size, once each.
// Paths are classified against a real temporary tree with symbolic links.
//
//	go run ./bench/facts -n 20000
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/toolgate/toolgate/internal/facts"
	_ "github.com/toolgate/toolgate/internal/facts/all"
)

// sql200 is the 200-character query of the performance target.
const sql200 = "SELECT u.id, u.name, o.total FROM public.users u JOIN orders o ON o.user_id = u.id WHERE u.created_at > now() - interval '7 days' AND o.status = 'paid' ORDER BY o.total DESC LIMIT 50"

func main() {
	n := flag.Int("n", 20000, "calls per input")
	flag.Parse()
	ws, err := tree()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/facts:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(filepath.Dir(ws))
	typical := []struct {
		classifier, name string
		inputs           []string
	}{
		{"sql", "200-character SELECT with a join", []string{sql200}},
		{"sql", "short statements", []string{"SELECT 1", "DELETE FROM t WHERE id = 1", "UPDATE users SET name = 'x' WHERE id = 7", "INSERT INTO t (a, b) VALUES (1, 2)"}},
		{"shell", "typical command lines", []string{"ls -la", "grep -rn TODO src | head -20", "git log --oneline -5",
			"cd /srv/app && git pull --ff-only && npm ci --silent 2>/dev/null | tee -a deploy.log", "find . -name '*.go' -exec wc -l {} +",
			"sort -u data.csv | cut -d, -f2 > out.txt", "for f in *.txt; do wc -l \"$f\"; done"}},
		{"path", "paths in a workspace", []string{ws + "/a.txt", ws + "/sub/deep/report.txt", "sub/b.txt", ws + "/link-in/b.txt", ws + "/new/file.txt"}},
		{"url", "URLs", []string{"https://api.github.com/repos/a/b", "http://169.254.169.254/latest/meta-data/", "https://example.com/path?q=1#x",
			"http://0x7f.1/", "http://api.example.com\\@169.254.169.254/"}},
	}
	fmt.Printf("%-6s %-34s %9s %9s %9s %9s\n", "", "inputs", "p50", "p90", "p99", "max")
	for _, tc := range typical {
		c, err := facts.New(tc.classifier, facts.Options{Roots: []string{ws}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/facts:", err)
			os.Exit(1)
		}
		lat := make([]time.Duration, 0, *n*len(tc.inputs))
		for range *n {
			for _, in := range tc.inputs {
				start := time.Now()
				c.Classify(in)
				lat = append(lat, time.Since(start))
			}
		}
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
		fmt.Printf("%-6s %-34s %9v %9v %9v %9v\n", tc.classifier, tc.name, q(0.5), q(0.9), q(0.99), lat[len(lat)-1])
	}

	m := facts.DefaultMaxInputBytes - 64
	worst := map[string][]string{
		"sql": {"SELECT 1" + strings.Repeat("+1", m/2-8), "SELECT " + strings.Repeat("a,", m/2-8) + "a", strings.Repeat("SELECT a FROM b;", m/16)},
		"shell": {strings.Repeat("a|", m/2), strings.Repeat("a ", m/2), strings.Repeat("{a,b}", m/5),
			strings.Repeat("x", m/2) + "{" + strings.Repeat("a,", 4000) + "b}"},
		"path": {"/" + strings.Repeat("a/", m/2), strings.Repeat("%25", m/3), "/" + strings.Repeat("\uff0e", m/3)},
		"url":  {"http://" + strings.Repeat("a.", m/2-4) + "com", "http://" + strings.Repeat("ü", m/2-8) + "/"},
	}
	// The CPU time of the calling thread says what one value costs
	// whatever else runs on the machine; the wall time is shown beside it.
	runtime.LockOSThread()
	fmt.Printf("\nslowest shapes at %d bytes (one call each)  %10s %10s\n", m, "cpu", "wall")
	for _, name := range []string{"sql", "shell", "path", "url"} {
		c, _ := facts.New(name, facts.Options{Roots: []string{ws}})
		for i, in := range worst[name] {
			cpu0, start := threadCPU(), time.Now()
			f := c.Classify(in)
			wall, cpu := time.Since(start), threadCPU()-cpu0
			fmt.Printf("%-6s #%d %-40.40q %10v %10v parse_error=%v\n", name, i, in, cpu.Round(time.Microsecond), wall.Round(time.Microsecond), f["parse_error"])
		}
	}
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tree makes a workspace with files, directories and symbolic links.
func tree() (string, error) {
	dir, err := os.MkdirTemp("", "bench-facts-")
	if err != nil {
		return "", err
	}
	ws := filepath.Join(dir, "ws")
	for _, d := range []string{"ws/sub/deep", "outside"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	for _, f := range []string{"ws/a.txt", "ws/sub/b.txt", "ws/sub/deep/report.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Symlink("sub", filepath.Join(ws, "link-in")); err != nil {
		return "", err
	}
	return ws, nil
}
