package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

// clientEvent is one line of testdata/waiting-client.cjs.
type clientEvent struct {
	Event    string          `json:"event"`
	Progress float64         `json:"progress"`
	Message  string          `json:"message"`
	Elapsed  int             `json:"elapsed"` // ms since the call started, by the client's clock
	Code     int             `json:"code"`
	Result   json.RawMessage `json:"result"`
}

// waitingClient starts the TypeScript SDK's client (a real MCP client
// with its own request timeout) on one call to pay, through `toolgate run`
// (mode "stdio") or serve's gateway (mode "http"), and returns what it
// reports, and its stderr (where `toolgate run` logs too).
func (w *world) waitingClient(mode, config string, timeoutMS int, reset bool) (<-chan clientEvent, *proc) {
	w.t.Helper()
	modules := filepath.Join(testutil.RepoRoot(w.t), "scripts", "node", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		testutil.Missing(w.t, "the MCP TypeScript SDK (npm @modelcontextprotocol/sdk)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		testutil.Missing(w.t, "node")
	}
	script := filepath.Join(testutil.RepoRoot(w.t), "internal", "approval", "e2e", "testdata", "waiting-client.cjs")
	args := []string{script, mode, fmt.Sprint(timeoutMS), fmt.Sprint(reset)}
	if mode == "stdio" {
		args = append(args, "--", testutil.Toolgate(w.t), "--config", config, "run", "--name", "bank", "--", os.Args[0])
	} else {
		args = append(args, w.base+"/mcp/bank", keyBot)
	}
	cmd := exec.Command("node", args...)
	cmd.Env = append(w.env(), "NODE_PATH="+modules)
	p := &proc{cmd: cmd, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.out
	out, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe() // open until the test ends: the client stays
	if err != nil {
		w.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	events := make(chan clientEvent, 10000)
	go func() {
		defer close(events)
		defer func() { _ = cmd.Wait(); close(p.done) }()
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev clientEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = clientEvent{Event: "unreadable", Message: sc.Text()}
			}
			events <- ev
		}
	}()
	w.t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		<-p.done
		if w.t.Failed() {
			w.t.Logf("waiting client (%s) stderr:\n%s", mode, p.out.String())
		}
	})
	return events, p
}

// next returns the client's next event; the client ending early fails
// the test.
func next(t *testing.T, events <-chan clientEvent) clientEvent {
	t.Helper()
	ev, ok := <-events
	if !ok {
		t.Fatal("the client ended without reporting how its call ended")
	}
	if ev.Event == "fatal" || ev.Event == "unreadable" {
		t.Fatalf("the client failed: %s", ev.Message)
	}
	return ev
}

// TestWaitOutlastsTheClientTimeout: a call held for a person's approval
// sends notifications/progress (approvals.progress_interval) to a client
// that gave a progress token, so a real MCP client whose request timeout
// resets on progress keeps waiting far past that timeout, and gets the
// result once a person approves; the same client without the reset gives
// up at its timeout. Through `toolgate run` (stdio) and serve's gateway
// (Streamable HTTP, where the answer becomes an event stream). The person
// answers when the client itself reports having waited twice its
// timeout, not after a sleep. (On the old code no progress came, and the
// client gave up after its timeout in both cases.)
func TestWaitOutlastsTheClientTimeout(t *testing.T) {
	// Long enough that a loaded machine's pauses stay far below it; the
	// progress comes every 20ms.
	const timeoutMS = 2000
	for _, mode := range []string{"stdio", "http"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			cfg := w.config(mode, "  timeout: 60s\n  progress_interval: 20ms\n")
			srv := w.serve(cfg)

			events, _ := w.waitingClient(mode, cfg, timeoutMS, true)
			if ev := next(t, events); ev.Event != "connected" {
				t.Fatalf("first event: %+v", ev)
			}
			ev := next(t, events)
			a := w.pending()
			id := a["id"].(string)
			if ev.Event != "progress" || !strings.Contains(ev.Message, "approval "+id) {
				t.Fatalf("first event of the call: %+v, want progress naming %s", ev, id)
			}
			last := ev.Progress
			for ev.Elapsed < 2*timeoutMS {
				if ev = next(t, events); ev.Event != "progress" || ev.Progress <= last {
					t.Fatalf("while waiting: %+v (last progress %v)", ev, last)
				}
				last = ev.Progress
			}
			if status, out := w.api(keyCarol, "POST", "/v1/approvals/"+id+"/approve", nil); status != 200 {
				t.Fatalf("approve: %d %v", status, out)
			}
			for ev.Event == "progress" {
				ev = next(t, events)
			}
			if ev.Event != "result" || !strings.Contains(string(ev.Result), "paid 7 to acct-wait") || ev.Elapsed < 2*timeoutMS {
				t.Fatalf("end of the call: %+v", ev)
			}
			if got := w.payments(); len(got) != 1 {
				t.Fatalf("payments: %v", got)
			}

			// Without resetTimeoutOnProgress the same client gives up at
			// its timeout (the SDK's RequestTimeout, -32001), progress or
			// not; its cancellation ends the wait, and the approval stays
			// pending (on_disconnect: keep).
			events, client := w.waitingClient(mode, cfg, timeoutMS, false)
			if ev := next(t, events); ev.Event != "connected" {
				t.Fatalf("first event: %+v", ev)
			}
			for ev = next(t, events); ev.Event == "progress"; ev = next(t, events) {
			}
			if ev.Event != "error" || ev.Code != -32001 {
				t.Fatalf("without reset: %+v", ev)
			}
			logs := srv
			if mode == "stdio" {
				logs = client // toolgate run logs to the client's stderr
			}
			if !logs.out.WaitFor("the client went away while its call waited for approval; the approval stays pending", logs.done) {
				t.Fatal("the client's cancellation did not end the wait")
			}
			if a := w.pending(id); a["args_sha256"] == "" {
				t.Fatalf("pending: %v", a)
			}
			if got := w.payments(); len(got) != 1 {
				t.Fatalf("payments: %v", got)
			}
		})
	}
}
