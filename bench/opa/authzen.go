package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	toolgateBody = `{"subject":{"type":"agent","id":"ci-bot","properties":{"groups":["devops","readers"]}},"action":{"name":"fs/read_file"},"resource":{"type":"server","id":"fs"},"context":{"input":{"path":"/workspace/src/main.go","size":2048}}}`
	opaBody      = `{"input":{"principal":"ci-bot","groups":["devops","readers"],"action":"fs/read_file","resource":"fs","input":{"path":"/workspace/src/main.go","size":2048}}}`
)

// side is one server under load.
type side struct {
	name, url, body, want string
	cmd                   *exec.Cmd
	rates, cpus           []float64
}

func authzenBench(opaBin, tgBin string, n, conns int, phase time.Duration, rounds int, dataDir, profile string) error {
	if phase <= 0 {
		phase = 5 * time.Second
	}
	tmp, err := os.MkdirTemp("", "toolgate-bench-opa-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if opaBin == "" {
		opaBin = filepath.Join(tmp, "opa")
		if out, err := exec.Command("go", "build", "-o", opaBin, "github.com/open-policy-agent/opa").CombinedOutput(); err != nil {
			return fmt.Errorf("building opa: %v\n%s", err, out)
		}
	}
	if tgBin == "" {
		tgBin = filepath.Join(tmp, "toolgate")
		if out, err := exec.Command("go", "build", "-o", tgBin, "github.com/toolgate/toolgate/cmd/toolgate").CombinedOutput(); err != nil {
			return fmt.Errorf("building toolgate: %v\n%s", err, out)
		}
	}
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
	}
	pol := filepath.Join(tmp, "policies")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pol, "grants.cedar"), []byte(cedarGrants(n)), 0o644); err != nil {
		return err
	}
	rego := filepath.Join(tmp, "grants.rego")
	if err := os.WriteFile(rego, []byte(regoGrants(n)), 0o644); err != nil {
		return err
	}
	tgPort, opaPort := freePort(), freePort()
	cfg := filepath.Join(tmp, "toolgate.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "listen: 127.0.0.1:%d\npolicy:\n  dirs: [%q]\n", tgPort, pol), 0o644); err != nil {
		return err
	}

	tg := &side{name: "toolgate serve", url: fmt.Sprintf("http://127.0.0.1:%d/access/v1/evaluation", tgPort), body: toolgateBody, want: `"decision":true`}
	tg.cmd = exec.Command(tgBin, "--config", cfg, "--data-dir", dataDir, "serve")
	debugAddr := ""
	if profile != "" {
		debugAddr = fmt.Sprintf("127.0.0.1:%d", freePort())
		tg.cmd.Args = append(tg.cmd.Args, "--debug-listen", debugAddr)
	}
	op := &side{name: "opa run --server", url: fmt.Sprintf("http://127.0.0.1:%d/v1/data/toolgate/allow", opaPort), body: opaBody, want: `"result":true`}
	op.cmd = exec.Command(opaBin, "run", "--server", "--addr", fmt.Sprintf("127.0.0.1:%d", opaPort), "--log-level", "error", rego)
	for _, s := range []*side{tg, op} {
		var out bytes.Buffer
		s.cmd.Stdout, s.cmd.Stderr = &out, &out
		if err := s.cmd.Start(); err != nil {
			return err
		}
		defer func() { s.cmd.Process.Kill(); s.cmd.Wait() }()
		if err := waitReady(s); err != nil {
			return fmt.Errorf("%s: %v\n%s", s.name, err, out.String())
		}
	}
	fmt.Printf("AuthZEN: toolgate serve (durable audit trail in %s) vs opa run --server, %d grants, %d keep-alive connections, %d phases of %s per side, %d CPUs, load average %s\n\n",
		dataDir, n, conns, rounds, phase, runtime.NumCPU(), loadAverage())
	for _, s := range []*side{tg, op} { // warm up
		if _, _, err := load(s, conns, time.Second); err != nil {
			return err
		}
	}
	for r := 0; r < rounds; r++ {
		for _, s := range []*side{tg, op} {
			if r == 0 && s == tg && profile != "" {
				go saveProfile(debugAddr, profile, phase-time.Second)
			}
			rate, cpu, err := load(s, conns, phase)
			if err != nil {
				return err
			}
			s.rates, s.cpus = append(s.rates, rate), append(s.cpus, cpu)
			fmt.Printf("round %d %-18s %9.0f decisions/s %8.1f µs CPU per decision\n", r+1, s.name, rate, cpu)
		}
	}
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	fmt.Printf("\nmedians: toolgate %.0f decisions/s (%.1f µs CPU each), OPA %.0f decisions/s (%.1f µs CPU each): toolgate/OPA %.2f× (target ≥ 1)\n",
		med(tg.rates), med(tg.cpus), med(op.rates), med(op.cpus), med(tg.rates)/med(op.rates))
	return nil
}

// load runs conns clients against s for d and returns decisions/s and the
// server's CPU µs per decision.
func load(s *side, conns int, d time.Duration) (rate, cpuPer float64, err error) {
	var ok atomic.Int64
	var firstErr atomic.Value
	cpu0 := procCPU(s.cmd.Process.Pid)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for time.Now().Before(deadline) {
				resp, err := client.Post(s.url, "application/json", strings.NewReader(s.body))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(s.want)) {
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s answered %d: %s", s.name, resp.StatusCode, b))
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return 0, 0, e.(error)
	}
	cpu := procCPU(s.cmd.Process.Pid) - cpu0
	n := float64(ok.Load())
	return n / took.Seconds(), cpu.Seconds() * 1e6 / n, nil
}

// procCPU is a process's user+system CPU time (Linux /proc).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
}

func waitReady(s *side) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Post(s.url, "application/json", strings.NewReader(s.body))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte(s.want)) {
				return nil
			}
			if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusNotFound {
				return fmt.Errorf("answered %d: %s", resp.StatusCode, b)
			}
		}
		time.Sleep(100 * time.Millisecond) // polling a starting process: a harness, not a test
	}
	return fmt.Errorf("not ready within 2 minutes")
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// saveProfile saves a CPU profile of toolgate (its --debug-listen) taken
// over d.
func saveProfile(addr, file string, d time.Duration) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(1, int(d.Seconds()))))
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
	}
}
