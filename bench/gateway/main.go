// Command gateway measures `toolgate serve` under load on loopback: many
// concurrent clients make the same allowed tools/call to one Streamable
// HTTP MCP server directly and through toolgate's /mcp/{server}, in
// alternating phases of one run, and the harness reports each side's
// calls/s and latency percentiles, and what toolgate adds.
//
//	go run ./bench/gateway [-c 64] [-phase 3s] [-rounds 2] [-max 200000]
//	go run ./bench/gateway -store postgres [-replicas 3]
//
// The upstream is a Go SDK MCP server in this process (JSON responses, one
// tool that answers at once), so the direct side is the floor. toolgate
// runs as its own process with the built-in durable audit trail (SQLite,
// group commit, fsync on) in a temporary data directory and an allow-all
// policy. Everything shares the machine's cores: the client, the upstream
// and toolgate. Bounded: at most -max calls per phase and -phase of time.
//
// With -store postgres the run adds two sides on a PostgreSQL server it
// starts (initdb/pg_ctl in a temporary directory, fsync on): one toolgate
// replica on it, and -replicas replicas sharing it (the clients' sessions
// spread over them), and reports beside each side the replicas' CPU per
// call and the database's.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	conc := flag.Int("c", 64, "concurrent clients (each its own MCP session)")
	phase := flag.Duration("phase", 3*time.Second, "length of one measured phase")
	rounds := flag.Int("rounds", 2, "direct/toolgate alternations")
	maxCalls := flag.Int("max", 200000, "at most this many calls per phase")
	toolgate := flag.String("toolgate", "", "toolgate binary (default: go build ./cmd/toolgate)")
	dataDir := flag.String("data-dir", "", "toolgate's data directory (default: a temporary one)")
	upKind := flag.String("upstream", "sdk", "sdk: a Go SDK MCP server; raw: a minimal net/http JSON-RPC responder (cheaper, not a conforming server)")
	load := flag.String("load", "go", "go: the harness's own HTTP clients; wrk: the wrk load generator (Debian package wrk), -c connections over -wrk-threads threads")
	wrkThreads := flag.Int("wrk-threads", 1, "wrk threads (each its own MCP session)")
	sink := flag.String("audit", "sqlite", "toolgate's audit sink: sqlite (the default trail) or jsonl (a file, fsynced per group commit)")
	floor := flag.Bool("floor", false, "also measure a third side: a plain reverse proxy (net/http/httputil, its own process, no enforcement, no audit), the floor of any Go HTTP proxy on this machine")
	serveProxy := flag.String("serve-proxy", "", "be that reverse proxy to this upstream URL (used by the harness itself)")
	proxyListen := flag.String("proxy-listen", "", "with -serve-proxy: the address to listen on")
	soak := flag.Int("soak", 0, "after the comparison, load toolgate alone until this many calls (e.g. 1000000) and print its memory (RSS, Go heap, goroutines) after every -phase")
	profile := flag.String("profile", "", "write a CPU profile of toolgate during its first measured phase to this file (go tool pprof FILE)")
	storeKind := flag.String("store", "sqlite", "sqlite: toolgate alone on its data directory; postgres: also 1 and -replicas replicas on one PostgreSQL, in the same run")
	replicas := flag.Int("replicas", 3, "with -store postgres: the replicas of the last side")
	flag.Parse()
	if *serveProxy != "" {
		reverseProxy(*proxyListen, *serveProxy)
		return
	}

	var up string
	var stopUp func()
	switch *upKind {
	case "sdk":
		up, stopUp = upstream()
	case "raw":
		up, stopUp = rawUpstream()
	default:
		must(fmt.Errorf("-upstream %q: want sdk or raw", *upKind))
	}
	defer stopUp()
	if *load != "go" && *load != "wrk" {
		must(fmt.Errorf("-load %q: want go or wrk", *load))
	}
	bin := *toolgate
	tmp, _ := os.MkdirTemp("", "tg-bench-gw-")
	defer os.RemoveAll(tmp)
	if bin == "" {
		bin = filepath.Join(tmp, "toolgate")
		build := exec.Command("go", "build", "-o", bin, "./cmd/toolgate")
		build.Stderr = os.Stderr
		must(build.Run())
	}
	if *dataDir == "" {
		*dataDir = filepath.Join(tmp, "data")
	}
	must(os.WriteFile(filepath.Join(tmp, "allow.cedar"), []byte(`@id("allow") permit(principal, action, resource);`), 0o600))
	port := freePort()
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\ndata_dir: %s\nprincipal: {id: bench}\npolicy: {dirs: [%s]}\nlog: {level: warn}\naudit: {sink: %s}\nservers:\n  - {name: up, url: %q}\n",
		port, *dataDir, filepath.Join(tmp, "allow.cedar"), *sink, up)
	must(os.WriteFile(filepath.Join(tmp, "toolgate.yaml"), []byte(cfg), 0o600))
	args := []string{"--config", filepath.Join(tmp, "toolgate.yaml"), "serve"}
	debug := ""
	if *profile != "" {
		debug = fmt.Sprintf("127.0.0.1:%d", freePort())
		args = append(args, "--debug-listen", debug)
	}
	tg := exec.Command(bin, args...)
	tg.Stderr = os.Stderr
	must(tg.Start())
	defer func() { _ = tg.Process.Signal(os.Interrupt); _ = tg.Wait() }()
	through := fmt.Sprintf("http://127.0.0.1:%d/mcp/up", port)
	waitUp(through)
	var pg *pgSides
	switch *storeKind {
	case "sqlite":
	case "postgres":
		if *load != "go" {
			must(fmt.Errorf("-store postgres measures with -load go"))
		}
		pg = startPG(bin, tmp, up, *replicas)
		defer pg.stop()
	default:
		must(fmt.Errorf("-store %q: want sqlite or postgres", *storeKind))
	}

	fmt.Printf("gateway benchmark: %d clients, %d rounds of %v per side, GOMAXPROCS %d, NumCPU %d\n",
		*conc, *rounds, *phase, runtime.GOMAXPROCS(0), runtime.NumCPU())
	sides := map[string]*result{"direct": {}, "toolgate": {}}
	targets := map[string][]string{"direct": {up}, "toolgate": {through}}
	names := []string{"direct", "toolgate"}
	pids := map[string][]int{"toolgate": {tg.Process.Pid}} // the processes between client and upstream
	if *floor {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort())
		self, err := os.Executable()
		must(err)
		px := exec.Command(self, "-serve-proxy", up, "-proxy-listen", addr)
		px.Stderr = os.Stderr
		must(px.Start())
		defer func() { _ = px.Process.Kill(); _ = px.Wait() }()
		targets["proxy"] = []string{"http://" + addr + "/mcp"}
		waitUp(targets["proxy"][0])
		sides["proxy"] = &result{}
		names = []string{"direct", "proxy", "toolgate"}
		pids["proxy"] = []int{px.Process.Pid}
	}
	if pg != nil {
		for _, side := range pg.sides {
			names = append(names, side.name)
			sides[side.name] = &result{}
			targets[side.name] = side.urls
			pids[side.name] = side.pids
		}
	}
	measure := func(name string, d time.Duration) *result {
		if *load == "wrk" {
			return runWrk(tmp, targets[name][0], *wrkThreads, *conc, d)
		}
		return run(targets[name], *conc, d, *maxCalls)
	}
	for _, name := range names { // warm up
		measure(name, time.Second)
	}
	cpu := map[string]time.Duration{}   // the middle processes' CPU time in their measured phases
	dbCPU := map[string]time.Duration{} // the database's, in the same phases
	for r := 0; r < *rounds; r++ {
		for _, name := range names {
			cpu0 := procsCPU(pids[name])
			var db0 map[int]time.Duration
			if pg != nil {
				db0 = pg.cpu()
			}
			var profiled chan struct{}
			if name == "toolgate" && r == 0 && *profile != "" {
				profiled = make(chan struct{})
				go func() {
					defer close(profiled)
					fetchProfile(debug, *phase-time.Second, *profile)
				}()
			}
			sides[name].add(measure(name, *phase))
			if profiled != nil {
				<-profiled
			}
			if len(pids[name]) > 0 {
				cpu[name] += procsCPU(pids[name]) - cpu0
			}
			if pg != nil {
				dbCPU[name] += since(db0, pg.cpu())
			}
		}
	}
	d, g := sides["direct"], sides["toolgate"]
	for _, name := range names {
		s := sides[name]
		fmt.Printf("%-9s %8.0f calls/s  p50 %8v  p90 %8v  p99 %8v  max %8v  errors %d  (%d calls)\n",
			name, s.rate(), s.pct(50), s.pct(90), s.pct(99), s.pct(100), s.errors, s.calls)
	}
	fmt.Printf("added by toolgate: p50 %v, p99 %v; throughput %.0f%% of direct\n",
		g.pct(50)-d.pct(50), g.pct(99)-d.pct(99), 100*g.rate()/d.rate())
	if p := sides["proxy"]; p != nil {
		fmt.Printf("a plain Go reverse proxy: %.0f%% of direct; toolgate: %.0f%% of that proxy\n", 100*p.rate()/d.rate(), 100*g.rate()/p.rate())
	}
	for _, name := range names {
		if s := sides[name]; s.calls > 0 && cpu[name] > 0 {
			fmt.Printf("%s's own CPU: %.0f µs per call, %.2f cores while loaded",
				name, float64(cpu[name].Microseconds())/float64(s.calls), cpu[name].Seconds()/s.elapsed.Seconds())
			if pg != nil {
				fmt.Printf("; the database's: %.0f µs per call", float64(dbCPU[name].Microseconds())/float64(s.calls))
			}
			fmt.Println()
		}
	}
	if pg != nil {
		perCall := func(n string) float64 { return float64(cpu[n]) / float64(sides[n].calls) }
		one, many := pg.sides[0].name, pg.sides[1].name
		fmt.Printf("CPU per call of a replica on PostgreSQL: %.2f× the SQLite single process (1 replica), %.2f× (%d replicas)\n",
			perCall(one)/perCall("toolgate"), perCall(many)/perCall("toolgate"), *replicas)
		fmt.Printf("throughput: 1 replica %.0f%%, %d replicas %.0f%% of the SQLite single process (all on this machine's %d cores)\n",
			100*sides[one].rate()/g.rate(), *replicas, 100*sides[many].rate()/g.rate(), runtime.NumCPU())
	}
	if *soak > 0 {
		soakRun(*soak, g.calls, func() *result { return measure("toolgate", *phase) }, tg.Process.Pid, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	}
}

// result is one side's calls. The Go load keeps every latency; wrk
// reports only its percentiles (fixed: p50, p90, p99, max), and rounds are
// then merged by taking the worst of each.
type result struct {
	calls   int
	lat     []time.Duration
	fixed   []time.Duration
	elapsed time.Duration
	errors  int
}

func (r *result) add(o *result) {
	r.calls += o.calls
	r.lat = append(r.lat, o.lat...)
	for i, v := range o.fixed {
		if i >= len(r.fixed) {
			r.fixed = append(r.fixed, v)
		} else {
			r.fixed[i] = max(r.fixed[i], v)
		}
	}
	r.elapsed += o.elapsed
	r.errors += o.errors
}

func (r *result) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }

func (r *result) pct(p int) time.Duration {
	if len(r.lat) == 0 {
		if len(r.fixed) == 4 {
			return r.fixed[map[int]int{50: 0, 90: 1, 99: 2, 100: 3}[p]]
		}
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	i := len(s) * p / 100
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i].Round(time.Microsecond)
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0}}

// session opens an MCP session (raw JSON-RPC over HTTP: no SDK in the
// measured path) and returns its id.
func session(url string) string {
	resp := post(url, "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := post(url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return sid
}

func post(url, sid, body string) *http.Response {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := client.Do(req)
	must(err)
	return resp
}

// run makes calls from conc clients for d (at most max calls); client i
// holds its session at urls[i % len(urls)].
func run(urls []string, conc int, d time.Duration, max int) *result {
	sids := make([]string, conc)
	for i := range sids {
		sids[i] = session(urls[i%len(urls)])
	}
	var n atomic.Int64
	var mu sync.Mutex
	res := &result{}
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		url := urls[i%len(urls)]
		go func(sid string) {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			for id := 1; time.Now().Before(deadline) && n.Add(1) <= int64(max); id++ {
				t0 := time.Now()
				resp := post(url, sid, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`, id))
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"hello"`)) || bytes.Contains(b, []byte(`"isError":true`)) {
					errs++
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			mu.Unlock()
		}(sids[i])
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.calls = len(res.lat)
	// End the sessions: toolgate bounds the sessions of one caller
	// (mcp.gateway.max_sessions_per_principal), and the next phase opens
	// its own.
	for i, sid := range sids {
		req, _ := http.NewRequest(http.MethodDelete, urls[i%len(urls)], nil)
		req.Header.Set("Mcp-Session-Id", sid)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	return res
}

// upstream serves a Go SDK MCP server with one tool on loopback.
func upstream() (string, func()) {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench-upstream", Version: "1"}, nil)
	type in struct {
		Text string `json:"text"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echoes text", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{JSONResponse: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/mcp", func() { srv.Close() }
}

// fetchProfile saves a CPU profile of d from toolgate's debug listener.
func fetchProfile(addr string, d time.Duration, path string) {
	d = max(d, time.Second)
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())))
	must(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(err)
	if resp.StatusCode != http.StatusOK {
		must(fmt.Errorf("profile: %s: %s", resp.Status, b))
	}
	must(os.WriteFile(path, b, 0o644))
	fmt.Fprintf(os.Stderr, "CPU profile of toolgate (%v) in %s\n", d, path)
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitUp(url string) {
	for i := 0; i < 300; i++ {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "toolgate did not start")
	os.Exit(1)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(1)
	}
}

var _ = json.Marshal
