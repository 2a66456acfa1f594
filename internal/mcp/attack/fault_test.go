package attack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/testutil"
)

// TestTrailOutlivesEveryEndOfACall ends more than a thousand calls early, in
// every way a call can end early — the client cancels it (before it is
// judged, while it is judged, while the server works), toolgate is stopped,
// the server crashes, the request times out, the HTTP client goes away —
// and then checks the trail: every call toolgate read has its decision
// record, every allowed call exactly one outcome record saying how it
// ended, and the hash chain verifies.
func TestTrailOutlivesEveryEndOfACall(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := testdata(t, "config.yaml")
	const perRound = 37
	read := map[string]bool{} // markers of calls toolgate surely read
	sent := 0
	for round := range 24 {
		ending := []string{"cancel", "stop", "crash"}[round%3]
		c := startRun(t, config, data, filepath.Join(dir, "exec"))
		var ids []string
		for i := range perRound {
			marker := fmt.Sprintf("r%d-%d", round, i)
			id := fmt.Sprintf(`"%s"`, marker)
			ids = append(ids, id)
			c.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"slow","arguments":{"n":"` + marker + `"}}}`)
			sent++
			if ending != "stop" {
				read[marker] = true
			}
		}
		switch ending {
		case "cancel":
			// Cancel the first half at once (being judged, or just
			// forwarded), the second half once the server has them.
			cancel := func(id string) {
				c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":` + id + `}}`)
			}
			for _, id := range ids[:perRound/2] {
				cancel(id)
			}
			c.started(ids[len(ids)-1])
			for _, id := range ids[perRound/2:] {
				cancel(id)
			}
			c.send(`{"jsonrpc":"2.0","id":"rel","method":"tools/call","params":{"name":"release"}}`)
			c.await(`"rel"`)
			c.close()
		case "stop":
			c.started(ids[0])
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			c.wait(true)
		case "crash":
			c.started(ids[len(ids)-1])
			c.send(`{"jsonrpc":"2.0","id":"boom","method":"tools/call","params":{"name":"crash"}}`)
			c.await(`"boom"`)
			c.in.Close()
			c.wait(true)
		}
	}
	sent += httpFaults(t, dir, data, read)
	if sent < 1000 {
		t.Fatalf("only %d calls", sent)
	}

	ds, outcomes := records(t, config, data)
	byMarker := map[string]int{}
	allowed := 0
	for _, d := range ds {
		var a struct{ N string }
		_ = json.Unmarshal(d.Arguments, &a)
		if a.N != "" {
			byMarker[a.N]++
		}
		if d.Effect == "allow" {
			allowed++
			if n := len(outcomes[d.DecisionID]); n != 1 {
				t.Errorf("decision %s (%s %s) has %d outcome records: %v", d.DecisionID, d.Tool, d.Arguments, n, outcomes[d.DecisionID])
			}
		}
	}
	for m := range read {
		if byMarker[m] != 1 {
			t.Errorf("call %s has %d decision records, want 1", m, byMarker[m])
		}
	}
	for id := range outcomes {
		found := false
		for _, d := range ds {
			found = found || d.DecisionID == id
		}
		if !found {
			t.Errorf("an outcome record for decision %s, which has no decision record", id)
		}
	}
	statuses := map[string]int{}
	for _, os := range outcomes {
		for _, s := range os {
			statuses[s]++
		}
	}
	t.Logf("%d calls sent, %d decision records, %d allowed; outcomes %v", sent, len(ds), allowed, statuses)
	for _, want := range []string{"cancelled", "timeout", "upstream_failure"} {
		if statuses[want] == 0 {
			t.Errorf("no outcome %q among %v: the test did not end calls that way", want, statuses)
		}
	}
}

// httpFaults ends calls through `toolgate serve`: a request timeout shorter
// than the server's work (the slow tool answers only when released, so
// every call left alone times out, whatever the timeout), and HTTP clients
// that go away. It returns the number of calls sent.
func httpFaults(t *testing.T, dir, data string, read map[string]bool) int {
	t.Helper()
	port := testutil.FreePort(t)
	config := filepath.Join(dir, "serve.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nprincipal: {id: agent}\npolicy:\n  dirs: [%q]\nservers:\n  - {name: lax, command: %q}\nmcp:\n  shutdown_timeout: 2s\n  gateway:\n    request_timeout: 2s\n",
		port, testdata(t, "policies"), os.Args[0])
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testutil.Toolgate(t), "--config", config, "--data-dir", data, "serve")
	cmd.Env = append(os.Environ(), "ATTACK_SERVER=lax", "ATTACK_EXEC="+filepath.Join(dir, "exec"))
	srv := startServe(t, cmd)
	defer func() {
		if err := srv.stop(); err != nil {
			t.Errorf("toolgate serve: %v\n%s", err, srv.out.String())
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := &mcpHTTP{t: t, url: base + "/mcp/lax"}
	// request_timeout bounds initialize too, which starts the server: on a
	// loaded machine that can take longer, so a session that failed to
	// start is started again (its server is up by then).
	for attempt := 1; ; attempt++ {
		body := c.post(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fault","version":"1"}}}`, 0)
		if c.status == http.StatusOK && c.session != "" && !strings.Contains(body, `"error"`) {
			break
		}
		if attempt == 5 {
			t.Fatalf("no session after %d tries: %d %s", attempt, c.status, body)
		}
		c.session = ""
	}
	c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, http.StatusAccepted)
	const n = 150
	var wg sync.WaitGroup
	for i := range n {
		marker := fmt.Sprintf("h-%d", i)
		read[marker] = true
		body := `{"jsonrpc":"2.0","id":"` + marker + `","method":"tools/call","params":{"name":"slow","arguments":{"n":"` + marker + `"}}}`
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", c.session)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if i%2 == 1 {
				// This client goes away once the server has the call (its
				// word comes on the request's event stream).
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					if strings.Contains(sc.Text(), "slow started") {
						cancel()
						return
					}
				}
			}
			_, _ = io.Copy(io.Discard, resp.Body)
		}()
	}
	wg.Wait()
	c.end()
	return n
}

// runClient drives one `toolgate run` over its stdin and stdout.
type runClient struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	seen  []string
	err   *testutil.SyncBuffer
}

func startRun(t *testing.T, config, data, execPath string) *runClient {
	t.Helper()
	cmd := exec.Command(testutil.Toolgate(t), "--config", config, "--data-dir", data,
		"run", "--policy", testdata(t, "policies"), "--name", "lax", "--", os.Args[0])
	cmd.Env = append(os.Environ(), "ATTACK_SERVER=lax", "ATTACK_EXEC="+execPath)
	return startCmd(t, cmd)
}

// startCmd starts a `toolgate run` command and initializes the session.
func startCmd(t *testing.T, cmd *exec.Cmd) *runClient {
	t.Helper()
	c := &runClient{t: t, cmd: cmd, lines: make(chan string, 256), err: &testutil.SyncBuffer{}}
	cmd.Stderr = c.err
	var err error
	if c.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	c.send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fault","version":"1"}}}`)
	c.await(`"init"`)
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return c
}

func (c *runClient) send(s string) {
	if _, err := io.WriteString(c.in, s+"\n"); err != nil {
		c.t.Fatalf("write to toolgate: %v\n%s", err, c.err.String())
	}
}

// next returns the first message (seen or new) for which match is true.
func (c *runClient) next(what string, match func(string) bool) {
	c.t.Helper()
	for i, l := range c.seen {
		if match(l) {
			c.seen = append(c.seen[:i:i], c.seen[i+1:]...)
			return
		}
	}
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("toolgate's output ended before %s\n%s", what, c.err.String())
			}
			if match(l) {
				return
			}
			c.seen = append(c.seen, l)
		case <-deadline:
			c.t.Fatalf("no %s within 2 minutes", what)
		}
	}
}

func (c *runClient) await(id string) {
	c.next("answer to "+id, func(l string) bool {
		var m struct {
			ID     json.RawMessage
			Method string
		}
		return json.Unmarshal([]byte(l), &m) == nil && string(m.ID) == id && m.Method == ""
	})
}

func (c *runClient) started(id string) {
	c.next("start of "+id, func(l string) bool {
		return strings.Contains(l, "slow started "+strings.ReplaceAll(id, `"`, `\"`))
	})
}

func (c *runClient) close() {
	c.in.Close()
	c.wait(false)
}

// wait waits for toolgate to exit; failed says an error exit is expected
// (the server crashed, toolgate was stopped).
func (c *runClient) wait(failed bool) {
	go func() {
		for range c.lines {
		}
	}()
	if err := c.cmd.Wait(); err != nil && !failed {
		c.t.Fatalf("toolgate run: %v\n%s", err, c.err.String())
	}
}
