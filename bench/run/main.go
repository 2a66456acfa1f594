// Command run measures what `toolgate run` adds to an allowed tools/call:
// the same client calls the same stdio MCP server directly and through
// toolgate, alternating in blocks in one run, and the harness reports each
// side's latency percentiles, the ratio and the added p50/p99.
//
//	go run ./bench/run [-n 5000] [-server echo|filesystem] [-config F] [-data-dir D]
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
	if err := run(*n, *warmup, *block, *server, *toolgate, *config, *dataDir, *debug); err != nil {
		fmt.Fprintln(os.Stderr, "bench/run:", err)
		os.Exit(1)
	}
}

func run(n, warmup, block int, server, toolgate, config, dataDir, debug string) error {
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
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
	}
	upstream, call, err := upstreamCommand(server, tmp)
	if err != nil {
		return err
	}
	args := []string{"--data-dir", dataDir}
	if config != "" {
		args = append(args, "--config", config)
	}
	args = append(args, "run", "--name", "bench")
	if debug != "" {
		args = append(args, "--debug-listen", debug)
	}
	args = append(append(args, "--"), upstream...)

	direct, err := startSession(upstream)
	if err != nil {
		return err
	}
	defer direct.close()
	proxied, err := startSession(append([]string{toolgate}, args...))
	if err != nil {
		return err
	}
	defer proxied.close()

	for _, s := range []*session{direct, proxied} {
		for i := 0; i < warmup; i++ {
			if _, err := s.call(call); err != nil {
				return err
			}
		}
	}
	var d, p []time.Duration
	for len(d) < n {
		for _, side := range []struct {
			s   *session
			out *[]time.Duration
		}{{direct, &d}, {proxied, &p}} {
			for i := 0; i < block && len(*side.out) < n; i++ {
				took, err := side.s.call(call)
				if err != nil {
					return err
				}
				*side.out = append(*side.out, took)
			}
		}
	}
	report(os.Stdout, server, n, dataDir, d, p)
	return nil
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

func report(w io.Writer, server string, n int, dataDir string, d, p []time.Duration) {
	us := func(x time.Duration) float64 { return float64(x.Nanoseconds()) / 1000 }
	fmt.Fprintf(w, "toolgate run vs direct: allowed tools/call, server %s, %d calls each, %s/%s, %d CPUs, data dir %s\n\n",
		server, n, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), dataDir)
	fmt.Fprintf(w, "%-10s %10s %10s %10s %10s\n", "", "p50 (µs)", "p90 (µs)", "p99 (µs)", "max (µs)")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"direct", d}, {"toolgate", p}} {
		fmt.Fprintf(w, "%-10s %10.1f %10.1f %10.1f %10.1f\n", row.name, us(pct(row.d, .5)), us(pct(row.d, .9)), us(pct(row.d, .99)), us(pct(row.d, 1)))
	}
	fmt.Fprintf(w, "\nadded p50 %.1f µs, added p99 %.1f µs, ratio p50 %.2f× (target: added p50 ≤ 150 µs)\n",
		us(pct(p, .5)-pct(d, .5)), us(pct(p, .99)-pct(d, .99)), float64(pct(p, .5))/float64(pct(d, .5)))
}

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
