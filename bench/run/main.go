// Command run measures what `toolgate run` adds to an allowed tools/call:
// the same client calls the same stdio MCP server directly, through a
// byte-copying proxy (the floor of one more process in the pipe chain) and
// through toolgate, alternating in blocks in one run; between blocks it
// times write+fdatasync of 512 bytes in the data directory (the floor of a
// durable record on that file system). It reports each side's latency
// percentiles, the added p50/p99 and the target computed from the floors
// measured in the same run; with -runs N, the medians over the runs.
//
//	go run ./bench/run [-n 5000] [-runs 3] [-server echo|filesystem] [-durability flush|os] [-config F] [-data-dir D]
//
// The default server is a minimal stdio MCP server built into this harness
// (it answers at once), so that what is measured is toolgate's share: read,
// validate, judge (Cedar), write the audit record durably, forward, relay
// the answer. The audit trail is toolgate's default (SQLite in the data
// directory) unless -config says otherwise; put -data-dir on tmpfs to see
// the cost without the disk's fsync.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	serve := flag.Bool("serve-echo", false, "be the minimal MCP server (used by the harness itself)")
	copyProxy := flag.Bool("serve-copy", false, "be a byte-copying proxy to the command after the flags (used by the harness itself)")
	runs := flag.Int("runs", 1, "measure this many times (each with new processes) and print the medians")
	durability := flag.String("durability", "", "audit.durability for toolgate (flush or os; default: toolgate's default, flush)")
	n := flag.Int("n", 5000, "calls per side")
	warmup := flag.Int("warmup", 300, "calls per side before measuring")
	block := flag.Int("block", 100, "calls per side per alternation")
	server := flag.String("server", "echo", "upstream: echo (built in) or filesystem (scripts/node, run scripts/test-deps.sh)")
	toolgate := flag.String("toolgate", "", "toolgate binary (default: go build ./cmd/toolgate)")
	config := flag.String("config", "", "toolgate config file (default: none, built-in policies and the default audit trail)")
	dataDir := flag.String("data-dir", "", "toolgate's data directory (default: a new temporary directory)")
	debug := flag.String("debug-listen", "", "pass --debug-listen ADDR to toolgate run (pprof and execution traces while it is measured)")
	flag.Parse()
	if *serve {
		echoServer(os.Stdin, os.Stdout)
		return
	}
	if *copyProxy {
		if err := copyServer(flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "bench/run -serve-copy:", err)
			os.Exit(1)
		}
		return
	}
	if err := runAll(*runs, *n, *warmup, *block, *server, *toolgate, *config, *durability, *dataDir, *debug); err != nil {
		fmt.Fprintln(os.Stderr, "bench/run:", err)
		os.Exit(1)
	}
}

// result is one run's figures, in µs.
type result struct {
	directP50, copyAdded, added, addedP99, disk float64
}

func runAll(runs, n, warmup, block int, server, toolgate, config, durability, dataDir, debug string) error {
	tmp, err := os.MkdirTemp("", "toolgate-bench-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if toolgate == "" {
		toolgate = filepath.Join(tmp, "toolgate")
		if out, err := exec.Command("go", "build", "-o", toolgate, "./cmd/toolgate").CombinedOutput(); err != nil {
			return fmt.Errorf("building toolgate (run from the repository root): %v\n%s", err, out)
		}
	}
	if durability != "" {
		if config != "" {
			return fmt.Errorf("-durability and -config: put audit.durability in the configuration file instead")
		}
		config = filepath.Join(tmp, "toolgate.yaml")
		if err := os.WriteFile(config, []byte("audit:\n  durability: "+durability+"\n"), 0o600); err != nil {
			return err
		}
	}
	var rs []result
	for i := 0; i < runs; i++ {
		dir := dataDir
		if dir == "" {
			dir = filepath.Join(tmp, fmt.Sprintf("data%d", i))
		} else if runs > 1 {
			dir = filepath.Join(dataDir, fmt.Sprintf("run%d", i))
		}
		r, err := run(n, warmup, block, server, toolgate, config, durability, dir, debug, tmp)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	if runs > 1 {
		med := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		m := result{
			directP50: med(func(r result) float64 { return r.directP50 }),
			copyAdded: med(func(r result) float64 { return r.copyAdded }),
			added:     med(func(r result) float64 { return r.added }),
			addedP99:  med(func(r result) float64 { return r.addedP99 }),
			disk:      med(func(r result) float64 { return r.disk }),
		}
		fmt.Printf("\nmedians of %d runs: direct p50 %.1f µs; byte-copy floor (added p50) %.1f µs; disk write+fdatasync p50 %.1f µs; toolgate added p50 %.1f µs, added p99 %.1f µs\n",
			runs, m.directP50, m.copyAdded, m.disk, m.added, m.addedP99)
		fmt.Println(verdict(m, durability))
	}
	return nil
}

// verdict compares toolgate's added p50 with the target made of the floors
// of the same run: the byte-copying proxy's added p50, plus the disk's
// write+fdatasync p50 when every record is flushed, plus 60 µs.
func verdict(r result, durability string) string {
	target, how := r.copyAdded+60, "byte-copy floor + 60 µs"
	if durability != "os" {
		target, how = r.copyAdded+r.disk+60, "byte-copy floor + disk write+fdatasync p50 + 60 µs"
	}
	met := "NOT MET"
	if r.added <= target {
		met = "met"
	}
	return fmt.Sprintf("target: added p50 ≤ %s = %.1f µs: %s (added p50 %.1f µs, %.2f× the target)", how, target, met, r.added, r.added/target)
}

func run(n, warmup, block int, server, toolgate, config, durability, dataDir, debug, tmp string) (result, error) {
	upstream, call, err := upstreamCommand(server, tmp)
	if err != nil {
		return result{}, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return result{}, err
	}
	disk, err := newDiskProbe(dataDir)
	if err != nil {
		return result{}, err
	}
	defer disk.close()
	args := []string{"--data-dir", dataDir}
	if config != "" {
		args = append(args, "--config", config)
	}
	args = append(args, "run", "--name", "bench")
	if debug != "" {
		args = append(args, "--debug-listen", debug)
	}
	args = append(append(args, "--"), upstream...)

	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	direct, err := startSession(upstream)
	if err != nil {
		return result{}, err
	}
	defer direct.close()
	copied, err := startSession(append([]string{self, "-serve-copy", "--"}, upstream...))
	if err != nil {
		return result{}, err
	}
	defer copied.close()
	proxied, err := startSession(append([]string{toolgate}, args...))
	if err != nil {
		return result{}, err
	}
	defer proxied.close()

	for _, s := range []*session{direct, copied, proxied} {
		for i := 0; i < warmup; i++ {
			if _, err := s.call(call); err != nil {
				return result{}, err
			}
		}
	}
	var d, c, p, f []time.Duration
	for len(d) < n {
		for _, side := range []struct {
			s   *session
			out *[]time.Duration
		}{{direct, &d}, {copied, &c}, {proxied, &p}} {
			for i := 0; i < block && len(*side.out) < n; i++ {
				took, err := side.s.call(call)
				if err != nil {
					return result{}, err
				}
				*side.out = append(*side.out, took)
			}
		}
		for i := 0; i < 10; i++ {
			took, err := disk.writeSync()
			if err != nil {
				return result{}, err
			}
			f = append(f, took)
		}
	}
	return report(os.Stdout, server, durability, n, dataDir, d, c, p, f), nil
}

// upstreamCommand is the server to measure against, and the tools/call
// params of an allowed call to it.
func upstreamCommand(server, tmp string) ([]string, string, error) {
	switch server {
	case "echo":
		self, err := os.Executable()
		if err != nil {
			return nil, "", err
		}
		return []string{self, "-serve-echo"}, `{"name":"echo","arguments":{"text":"hello"}}`, nil
	case "filesystem":
		bin, err := filepath.Abs("scripts/node/node_modules/.bin/mcp-server-filesystem")
		if err != nil {
			return nil, "", err
		}
		if _, err := os.Stat(bin); err != nil {
			return nil, "", fmt.Errorf("%s is missing: run scripts/test-deps.sh", bin)
		}
		ws := filepath.Join(tmp, "ws")
		if err := os.MkdirAll(ws, 0o755); err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(filepath.Join(ws, "a.txt"), []byte("hello\n"), 0o644); err != nil {
			return nil, "", err
		}
		return []string{bin, ws}, fmt.Sprintf(`{"name":"read_text_file","arguments":{"path":%q}}`, filepath.Join(ws, "a.txt")), nil
	}
	return nil, "", fmt.Errorf("unknown server %q (echo or filesystem)", server)
}

// session is a raw JSON-RPC client over a process's stdin/stdout: no SDK
// in the measured path, so both sides pay the same small client cost.
type session struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	id  int
}

func startSession(argv []string) (*session, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = io.Discard
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &session{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}
	if _, err := s.request("initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}`); err != nil {
		return nil, fmt.Errorf("%s: initialize: %w", argv[0], err)
	}
	if _, err := io.WriteString(in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"); err != nil {
		return nil, err
	}
	if _, err := s.request("tools/list", `{}`); err != nil {
		return nil, fmt.Errorf("%s: tools/list: %w", argv[0], err)
	}
	return s, nil
}

// request sends one request and reads until its response.
func (s *session) request(method, params string) ([]byte, error) {
	s.id++
	msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`+"\n", s.id, method, params)
	if _, err := io.WriteString(s.in, msg); err != nil {
		return nil, err
	}
	want := fmt.Sprint(s.id)
	for {
		line, err := s.out.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		var m struct {
			ID     json.RawMessage
			Result json.RawMessage
			Error  json.RawMessage
		}
		if json.Unmarshal(line, &m) == nil && string(m.ID) == want {
			if m.Error != nil {
				return nil, fmt.Errorf("error: %s", m.Error)
			}
			return m.Result, nil
		}
	}
}

// call makes one tools/call and returns its latency; a denied or failed
// call is an error (only allowed calls are measured).
func (s *session) call(params string) (time.Duration, error) {
	start := time.Now()
	res, err := s.request("tools/call", params)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if strings.Contains(string(res), `"isError":true`) {
		return 0, fmt.Errorf("the call was not allowed: %s", res)
	}
	return took, nil
}

func (s *session) close() {
	s.in.Close()
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
	}
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func report(w io.Writer, server, durability string, n int, dataDir string, d, c, p, f []time.Duration) result {
	us := func(x time.Duration) float64 { return float64(x.Nanoseconds()) / 1000 }
	if durability == "" {
		durability = "flush (default)"
	}
	fmt.Fprintf(w, "toolgate run vs direct: allowed tools/call, server %s, %d calls each, %s/%s, %d CPUs, data dir %s, audit.durability %s, load average %s\n\n",
		server, n, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), dataDir, durability, loadAverage())
	fmt.Fprintf(w, "%-26s %10s %10s %10s %10s\n", "", "p50 (µs)", "p90 (µs)", "p99 (µs)", "max (µs)")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"direct", d}, {"byte-copying proxy", c}, {"toolgate", p}, {"disk write+fdatasync 512 B", f}} {
		fmt.Fprintf(w, "%-26s %10.1f %10.1f %10.1f %10.1f\n", row.name, us(pct(row.d, .5)), us(pct(row.d, .9)), us(pct(row.d, .99)), us(pct(row.d, 1)))
	}
	r := result{
		directP50: us(pct(d, .5)),
		copyAdded: us(pct(c, .5) - pct(d, .5)),
		added:     us(pct(p, .5) - pct(d, .5)),
		addedP99:  us(pct(p, .99) - pct(d, .99)),
		disk:      us(pct(f, .5)),
	}
	fmt.Fprintf(w, "\nbyte-copy floor: added p50 %.1f µs; toolgate: added p50 %.1f µs, added p99 %.1f µs, ratio p50 %.2f×\n",
		r.copyAdded, r.added, r.addedP99, float64(pct(p, .5))/float64(pct(d, .5)))
	fmt.Fprintln(w, verdict(r, strings.TrimSuffix(durability, " (default)")))
	return r
}

// loadAverage is the 1-minute load average (Linux), or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// copyServer runs argv and copies bytes both ways between it and this
// process's stdin/stdout: the floor of one more process in the pipe chain.
func copyServer(argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { io.Copy(in, os.Stdin); in.Close() }()
	io.Copy(os.Stdout, out)
	return cmd.Wait()
}

// diskProbe times a durable 512-byte write in a directory: a write into a
// preallocated file and an fdatasync, the least a durable record costs on
// that file system.
type diskProbe struct {
	f   *os.File
	off int64
	buf []byte
}

func newDiskProbe(dir string) (*diskProbe, error) {
	f, err := os.CreateTemp(dir, "disk-probe-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	// Written, not only truncated: overwriting allocated blocks, as a WAL
	// does once it has grown, needs no metadata in the flush.
	if _, err := f.Write(make([]byte, probeSize)); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return &diskProbe{f: f, buf: make([]byte, 512)}, nil
}

func (p *diskProbe) writeSync() (time.Duration, error) {
	start := time.Now()
	if _, err := p.f.WriteAt(p.buf, p.off); err != nil {
		return 0, err
	}
	if err := fdatasync(p.f); err != nil {
		return 0, err
	}
	p.off = (p.off + 512) % probeSize
	return time.Since(start), nil
}

func (p *diskProbe) close() { p.f.Close() }

const probeSize = 4 << 20

// echoServer is the smallest stdio MCP server that answers the harness:
// one read-only tool, answered at once.
func echoServer(r io.Reader, w io.Writer) {
	in := bufio.NewReaderSize(r, 1<<20)
	out := bufio.NewWriter(w)
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(line, &m) != nil || m.ID == nil {
			continue
		}
		var result string
		switch m.Method {
		case "initialize":
			result = `{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"echo","version":"1"}}`
		case "tools/list":
			result = `{"tools":[{"name":"echo","description":"Echo","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}},"annotations":{"readOnlyHint":true}}]}`
		case "tools/call":
			result = `{"content":[{"type":"text","text":"hello"}]}`
		default:
			result = `{}`
		}
		fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"result":%s}`+"\n", m.ID, result)
		out.Flush()
	}
}
