package stdio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/toolgate/toolgate/internal/audit/audittest"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/internal/mcp/pin"
	"github.com/toolgate/toolgate/internal/policy"
)

const relayPolicies = `
@id("read-only")
permit (principal, action in Action::"ReadOnly", resource == Server::"fake");

@id("write-tmp")
@reason("writes are allowed under /tmp only")
permit (principal, action == Action::"fake/write", resource == Server::"fake")
when { context.input has path && context.input.path like "/tmp/*" };
`

type memSink = audittest.Sink

// harness runs the relay in-process in front of the fake server and plays
// the client.
type harness struct {
	t      testing.TB
	in     *io.PipeWriter
	lines  chan string
	done   chan error
	record string
	sink   *memSink
	seen   []string // messages read while waiting for another
}

type setup struct {
	env    []string
	config mcp.Config
	ctx    context.Context
}

func startRelay(t testing.TB, s setup) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, lines: make(chan string, 100), done: make(chan error, 1),
		record: filepath.Join(dir, "record"), sink: &memSink{}}

	set, err := policy.NewSet(policy.OrgLayer, []policy.Source{{Name: "relay.cedar", Text: []byte(relayPolicies)}})
	if err != nil {
		t.Fatal(err)
	}
	pins, err := pin.Open(dir, "fake")
	if err != nil {
		t.Fatal(err)
	}
	tools := gate.NewTools("fake", pins, s.config.Pinning, nil)
	pipe, err := enforce.New(enforce.Config{Policies: policy.NewStaticEngine(set), Catalog: tools.Catalog(nil), Audit: h.sink})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Options{Tools: tools, Pipeline: pipe, Principal: call.Principal{Kind: call.KindAgent, ID: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.config.ShutdownTimeout == 0 {
		s.config.ShutdownTimeout = 2 * time.Second
	}
	if s.ctx == nil {
		s.ctx = context.Background()
	}
	env := append(os.Environ(), "FAKE_MCP_SERVER=1", "FAKE_RECORD="+h.record)
	opts := Options{Command: []string{os.Args[0]}, Env: append(env, s.env...), Gate: g, Config: s.config, Stderr: os.Stderr}

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h.in = inW
	go func() {
		err := Run(s.ctx, opts, inR, outW)
		outW.Close()
		h.done <- err
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	return h
}

func (h *harness) send(line string) {
	h.t.Helper()
	if _, err := io.WriteString(h.in, line+"\n"); err != nil {
		h.t.Fatalf("send: %v", err)
	}
}

// recv returns the next message from the relay.
func (h *harness) recv() string {
	h.t.Helper()
	if len(h.seen) > 0 {
		l := h.seen[0]
		h.seen = h.seen[1:]
		return l
	}
	select {
	case l, ok := <-h.lines:
		if !ok {
			h.t.Fatal("the relay's output ended")
		}
		return l
	case <-time.After(20 * time.Second):
		h.t.Fatal("no message from the relay within 20s")
	}
	return ""
}

// started waits for the fake server's word that the slow call with the
// given id (raw JSON) has reached it, keeping other messages for recv.
func (h *harness) started(id string) {
	h.t.Helper()
	want := "slow started " + id
	has := func(l string) bool {
		var m struct {
			Method string
			Params struct{ Data string }
		}
		return json.Unmarshal([]byte(l), &m) == nil && m.Method == "notifications/message" && m.Params.Data == want
	}
	for i, l := range h.seen {
		if has(l) {
			h.seen = append(h.seen[:i:i], h.seen[i+1:]...)
			return
		}
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("the relay's output ended before %q", want)
			}
			if has(l) {
				return
			}
			h.seen = append(h.seen, l)
		case <-deadline:
			h.t.Fatalf("no %q within 20s (seen %q)", want, h.seen)
		}
	}
}

// recvID returns the response with the given id (raw JSON), keeping other
// messages for recv.
func (h *harness) recvID(id string) string {
	h.t.Helper()
	for i, l := range h.seen {
		if idOf(l) == id {
			h.seen = append(h.seen[:i:i], h.seen[i+1:]...)
			return l
		}
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("the relay's output ended before the response to %s", id)
			}
			if idOf(l) == id && !strings.Contains(l, `"method"`) {
				return l
			}
			h.seen = append(h.seen, l)
		case <-deadline:
			h.t.Fatalf("no response to %s within 20s (seen %q)", id, h.seen)
		}
	}
}

// request sends a request and returns its response.
func (h *harness) request(id, method, params string) map[string]json.RawMessage {
	h.t.Helper()
	msg := `{"jsonrpc":"2.0","id":` + id + `,"method":"` + method + `"`
	if params != "" {
		msg += `,"params":` + params
	}
	h.send(msg + "}")
	return fields(h.t, h.recvID(id))
}

// close ends the client's side and returns Run's result.
func (h *harness) close() error {
	h.t.Helper()
	h.in.Close()
	return h.wait()
}

func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		for range h.lines { // drain
		}
		return err
	case <-time.After(30 * time.Second):
		h.t.Fatal("the relay did not stop within 30s")
	}
	return nil
}

// recorded is every line the fake server read.
func (h *harness) recorded() string {
	b, _ := os.ReadFile(h.record)
	return string(b)
}

func (h *harness) initialize() {
	h.t.Helper()
	r := h.request("0", "initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}`)
	if r["result"] == nil {
		h.t.Fatalf("initialize: %v", r)
	}
	h.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

func idOf(line string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(line), &m) != nil {
		return ""
	}
	return string(m["id"])
}

func fields(t testing.TB, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %s", s)
	}
	return m
}

func errorCode(t *testing.T, resp map[string]json.RawMessage) (int, string) {
	t.Helper()
	var e struct {
		Code    int
		Message string
	}
	if err := json.Unmarshal(resp["error"], &e); err != nil {
		t.Fatalf("not an error response: %v", resp)
	}
	return e.Code, e.Message
}

func toolText(t *testing.T, resp map[string]json.RawMessage) (string, bool) {
	t.Helper()
	var r struct {
		Content []struct{ Text string }
		IsError bool
	}
	if err := json.Unmarshal(resp["result"], &r); err != nil || len(r.Content) == 0 {
		t.Fatalf("not a CallToolResult: %v", resp)
	}
	return r.Content[0].Text, r.IsError
}

// sameJSON tells whether a and b mean the same JSON value.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func noLeaks(t *testing.T) {
	t.Helper()
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
}

// What reaches the server is toolgate's encoding of what it read: compact,
// members JSON-RPC does not define dropped, escapes decoded, line breaks of
// every reader escaped, toolgate's reserved _meta keys removed in any
// spelling. (Fails on the old relay, which passed the client's bytes on.)
func TestRelayPassesWhatItReadReEncoded(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{})
	h.initialize()

	odd := "{\"id\":\"r1\", \"method\":\"resources/read\",\r\"jsonrpc\":\"2.0\",\"params\":{\"b\":1,\"a\":[1,2.50,\"\\u00e9\\u2028x\u0085\"]," +
		`"_meta":{"toolgate\/txn-token":"forged","Toolgate/Access-Token":"forged","\u0074oolgate/task":"forged","progressToken":"p"}},"x-extra":true}`
	want := `{"jsonrpc":"2.0","id":"r1","method":"resources/read","params":{"a":[1,2.50,"é\u2028x\u0085"],"b":1,"_meta":{"progressToken":"p"}}}`
	h.send(odd)
	var raw struct{ Raw string }
	json.Unmarshal(fields(t, h.recvID(`"r1"`))["result"], &raw)
	if !sameJSON(raw.Raw, want) || strings.ContainsAny(raw.Raw, "\r\n\u0085\u2028") || strings.Contains(raw.Raw, " ") || strings.Contains(raw.Raw, "forged") {
		t.Errorf("the server read %q\nwant (in meaning) %q", raw.Raw, want)
	}
	if r := h.request("2", "ping", ""); string(r["result"]) != "{}" {
		t.Errorf("ping = %v", r)
	}

	// A request from the server to the client (sampling) and the client's
	// answer pass both ways unchanged.
	h.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"sample"}}`)
	srvReq := h.recv()
	if srvReq != `{"id":"srv-1","jsonrpc":"2.0","method":"sampling/createMessage","params":{"maxTokens":5,"messages":[]}}` {
		t.Errorf("server request = %s", srvReq)
	}
	answer := `{"jsonrpc":"2.0","id":"srv-1","result":{"role":"assistant","content":{"type":"text","text":"hi"},"model":"m"}}`
	h.send(answer)
	if text, _ := toolText(t, fields(t, h.recvID("3"))); text != answer {
		t.Errorf("the server read the client's answer as %s", text)
	}

	// Progress notifications for a call come through; the call's result is
	// exactly the server's.
	h.send(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"tok"}}}`)
	if n := h.recv(); n != `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1,"progressToken":"tok","total":2}}` {
		t.Errorf("progress = %s", n)
	}
	if r := h.recvID("4"); r != `{"id":4,"jsonrpc":"2.0","result":{"content":[{"text":"progressed","type":"text"}]}}` {
		t.Errorf("result = %s", r)
	}

	// Notifications from the client reach the server unchanged.
	note := `{"jsonrpc":"2.0","method":"notifications/roots/list_changed","params":{}}`
	h.send(note)
	h.request("5", "ping", "") // the note is read before this
	if !strings.Contains(h.recorded(), note+"\n") {
		t.Errorf("the server did not read %s", note)
	}
	if err := h.close(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRelayEnforcesToolCalls(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{})
	h.initialize()

	var list struct{ Tools []struct{ Name string } }
	json.Unmarshal(h.request("1", "tools/list", "")["result"], &list)
	var names []string
	for _, x := range list.Tools {
		names = append(names, x.Name)
	}
	if strings.Contains(strings.Join(names, ","), "secret") || !strings.Contains(strings.Join(names, ","), "write") {
		t.Errorf("tools = %v; want write listed and secret hidden", names)
	}

	r := h.request("2", "tools/call", `{"name":"write","arguments":{"path":"/etc/passwd","content":"x"}}`)
	if text, isErr := toolText(t, r); !isErr || !strings.Contains(text, "toolgate denied this call to write") {
		t.Errorf("denied call = %v", r)
	}
	r = h.request("3", "tools/call", `{"name":"write","arguments":{"path":"/tmp/a","content":"x"}}`)
	if text, isErr := toolText(t, r); isErr || text != `{"path":"/tmp/a","content":"x"}` {
		t.Errorf("allowed call = %v", r)
	}
	r = h.request("4", "tools/call", `{"name":"secret","arguments":{}}`)
	if _, isErr := toolText(t, r); !isErr {
		t.Errorf("hidden tool callable: %v", r)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	rec := h.recorded()
	if strings.Contains(rec, "/etc/passwd") || strings.Contains(rec, `"secret","arguments"`) {
		t.Errorf("a denied call reached the server:\n%s", rec)
	}
	if !strings.Contains(rec, "/tmp/a") {
		t.Errorf("the allowed call did not reach the server")
	}
	if len(h.sink.Decisions) != 3 || len(h.sink.Outcomes) != 1 || h.sink.Outcomes[0].Status != call.OutcomeOK {
		t.Errorf("audit: %d decisions, outcomes %+v", len(h.sink.Decisions), h.sink.Outcomes)
	}
}

func TestRelayRejectsBadMessages(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{config: mcp.Config{MaxMessageBytes: 2048, MaxDepth: 10}})
	h.initialize()
	big := strings.Repeat("A", 4096)
	cases := []struct {
		name, line string
		id         string
		code       int
		contains   string
	}{
		{"not JSON", `{"jsonrpc":"2.0","id":1,"method":"tools/call",`, "null", jsonrpc.CodeParseError, "invalid JSON"},
		{"too large, id first", `{"jsonrpc":"2.0","id":"big1","method":"tools/call","params":{"name":"echo","arguments":{"x":"` + big + `"}}}`, `"big1"`, jsonrpc.CodeInvalidRequest, "larger than the limit of 2048 bytes"},
		{"too large, id last", `{"method":"tools/call","params":{"name":"echo","arguments":{"x":"` + big + `"}},"jsonrpc":"2.0","id":"big2"}`, "null", jsonrpc.CodeInvalidRequest, "larger than the limit"},
		{"too deep", `{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"echo","arguments":{"x":[[[[[[[[[[1]]]]]]]]]]}}}`, `"deep"`, jsonrpc.CodeInvalidRequest, "nested deeper than the limit of 10"},
		{"duplicate name", `{"jsonrpc":"2.0","id":"dup","method":"tools/call","params":{"name":"write","arguments":{"path":"/tmp/ok","path":"/etc/shadow"}}}`, `"dup"`, jsonrpc.CodeInvalidRequest, `"path" appears twice`},
		{"case variant", `{"jsonrpc":"2.0","id":"cv","method":"tools/call","Method":"ping","params":{}}`, `"cv"`, jsonrpc.CodeInvalidRequest, "appears twice"},
		{"case variant argument", `{"jsonrpc":"2.0","id":"cva","method":"tools/call","params":{"name":"echo","NAME":"write","arguments":{}}}`, `"cva"`, jsonrpc.CodeInvalidRequest, "appears twice"},
		{"unknown method", `{"jsonrpc":"2.0","id":"um","method":"vendor/run","params":{}}`, `"um"`, jsonrpc.CodeMethodNotFound, "does not forward"},
		{"bad version", `{"jsonrpc":"1.0","id":"v","method":"ping"}`, `"v"`, jsonrpc.CodeInvalidRequest, `"jsonrpc" must be "2.0"`},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, "null", jsonrpc.CodeInvalidRequest, "string or an integer"},
		{"bad params", `{"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"name":"echo","arguments":[1]}}`, `"p"`, jsonrpc.CodeInvalidParams, `"arguments" must be an object`},
		{"batch in 2025-06-18", `[{"jsonrpc":"2.0","id":"b","method":"ping"}]`, "null", jsonrpc.CodeInvalidRequest, "batches are not allowed"},
	}
	for _, c := range cases {
		h.send(c.line)
		resp := fields(t, h.recv())
		code, msg := errorCode(t, resp)
		if string(resp["id"]) != c.id || code != c.code || !strings.Contains(msg, c.contains) {
			t.Errorf("%s: id %s code %d %q; want id %s code %d containing %q", c.name, resp["id"], code, msg, c.id, c.code, c.contains)
		}
	}
	// Nothing is lost: the next message works.
	if r := h.request("9", "ping", ""); string(r["result"]) != "{}" {
		t.Errorf("after bad input: %v", r)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	rec := h.recorded()
	for _, bad := range []string{big[:100], "/etc/shadow", `"jsonrpc":"1.0"`, `"Method"`, `"NAME"`, `vendor/run`, `"arguments":[1]`, `"id":"b"`} {
		if strings.Contains(rec, bad) {
			t.Errorf("a rejected message reached the server (%q):\n%s", bad, rec)
		}
	}
}

func TestRelayRequestIDCollision(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{})
	h.initialize()
	h.send(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow"}}`)
	h.started("7")
	h.send(`{"jsonrpc":"2.0","id":7,"method":"ping"}`)
	first := fields(t, h.recvID("7"))
	code, msg := errorCode(t, first)
	if code != jsonrpc.CodeInvalidRequest || !strings.Contains(msg, "already in use") {
		t.Errorf("colliding request: %d %q", code, msg)
	}
	h.send(`{"jsonrpc":"2.0","id":"rel","method":"tools/call","params":{"name":"release"}}`)
	if text, _ := toolText(t, fields(t, h.recvID("7"))); text != "slow done" {
		t.Errorf("the first request's answer = %q", text)
	}
	// Answered: the id may be used again.
	if r := h.request("7", "ping", ""); string(r["result"]) != "{}" {
		t.Errorf("reuse of an answered id: %v", r)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if strings.Count(h.recorded(), `"method":"ping"`) != 1 {
		t.Errorf("the colliding ping reached the server:\n%s", h.recorded())
	}
}

func TestRelayCancellation(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{})
	h.initialize()
	h.send(`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"slow"}}`)
	h.started("8")
	cancel := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8,"reason":"user"}}`
	h.send(cancel)
	// No answer to 8 (the server drops it too): releasing the slow calls
	// answers none.
	h.send(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"release"}}`)
	if text, _ := toolText(t, fields(t, h.recvID("9"))); text != "released" {
		t.Errorf("release = %q", text)
	}
	if len(h.seen) != 0 {
		t.Errorf("unexpected messages: %q", h.seen)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.recorded(), cancel) {
		t.Error("the cancellation did not reach the server")
	}
	// The trail says the call was cancelled while the server had it.
	statuses := map[call.OutcomeStatus]int{}
	for _, o := range h.sink.Outcomes {
		statuses[o.Status]++
	}
	if len(h.sink.Outcomes) != 2 || statuses[call.OutcomeCancelled] != 1 || statuses[call.OutcomeOK] != 1 {
		t.Errorf("outcomes %+v; want the slow call cancelled and the release ok", h.sink.Outcomes)
	}
}

func TestRelayRefreshesToolsOnListChanged(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{})
	h.initialize()
	h.request("1", "tools/list", "") // pins every tool

	// The server changes echo's description and says so.
	h.request("2", "tools/call", `{"name":"rugpull"}`)
	if n := h.recv(); !strings.Contains(n, "notifications/tools/list_changed") {
		t.Fatalf("expected list_changed, got %s", n)
	}
	// The client calls echo without listing again: toolgate lists the
	// tools itself, sees the change and refuses the call.
	r := h.request("3", "tools/call", `{"name":"echo","arguments":{}}`)
	text, isErr := toolText(t, r)
	if !isErr || !strings.Contains(text, "changed since it was pinned") || !strings.Contains(text, "toolgate pin accept fake echo") {
		t.Errorf("call to a changed tool: %s", text)
	}
	var list struct{ Tools []struct{ Name string } }
	json.Unmarshal(h.request("4", "tools/list", "")["result"], &list)
	for _, x := range list.Tools {
		if x.Name == "echo" {
			t.Error("the changed tool is still listed")
		}
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.recorded(), `"id":"toolgate-`) {
		t.Error("toolgate did not list the tools itself")
	}
}

func TestRelayBatches(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{env: []string{"FAKE_VERSION=2025-03-26"}})
	h.initialize()
	h.send(`[{"jsonrpc":"2.0","id":"a","method":"ping"},` +
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},` +
		`{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"write","arguments":{"path":"/etc/x"}}},` +
		`{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"echo","arguments":{"k":1}}},` +
		`42]`)
	var answers []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(h.recv()), &answers); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]json.RawMessage{}
	for _, a := range answers {
		got[string(a["id"])] = a
	}
	if len(answers) != 4 || got[`"a"`]["result"] == nil || got["null"]["error"] == nil {
		t.Fatalf("batch answers = %v", answers)
	}
	if _, isErr := toolText(t, got[`"b"`]); !isErr {
		t.Errorf("denied call in a batch: %v", got[`"b"`])
	}
	if text, _ := toolText(t, got[`"c"`]); text != `{"k":1}` {
		t.Errorf("allowed call in a batch: %v", got[`"c"`])
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h.recorded(), "/etc/x") {
		t.Error("a denied call in a batch reached the server")
	}
}

func TestRelayUpstreamCrash(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{})
	h.initialize()
	h.send(`{"jsonrpc":"2.0","id":"pending","method":"tools/call","params":{"name":"slow"}}`)
	h.started(`"pending"`)
	h.send(`{"jsonrpc":"2.0","id":"boom","method":"tools/call","params":{"name":"crash"}}`)
	for _, id := range []string{`"pending"`, `"boom"`} {
		code, msg := errorCode(t, fields(t, h.recvID(id)))
		if code != jsonrpc.CodeUpstream || !strings.Contains(msg, "exited") {
			t.Errorf("%s: %d %q", id, code, msg)
		}
	}
	err := h.wait()
	var ee *UpstreamExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Run = %v; want an UpstreamExitError with exit status 3", err)
	}
	h.in.Close()
}

// The server is stopped in steps: its input closed, then SIGTERM, then
// SIGKILL; the record tells which steps it saw, and the relay returns only
// once the process is gone.
func TestRelayStopsTheServer(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		sigterm   bool
	}{
		{"on stdin close", "", false},
		{"with SIGTERM", "FAKE_ON_EOF=hang", true},
		{"with SIGKILL", "FAKE_ON_EOF=hang-ignore-term", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer noLeaks(t)
			h := startRelay(t, setup{env: []string{tc.env}, config: mcp.Config{ShutdownTimeout: 300 * time.Millisecond}})
			h.initialize()
			if err := h.close(); err != nil {
				t.Fatalf("Run = %v", err)
			}
			if got := strings.Contains(h.recorded(), "SIGTERM\n"); got != tc.sigterm {
				t.Errorf("the server saw SIGTERM: %v, want %v", got, tc.sigterm)
			}
			h.serverGone()
		})
	}
}

// serverGone checks that the fake server's process no longer exists.
func (h *harness) serverGone() {
	h.t.Helper()
	var pid int
	if _, err := fmt.Sscanf(h.recorded(), "pid %d", &pid); err != nil {
		h.t.Fatalf("no pid in the record: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		h.t.Errorf("the server (pid %d) still exists: kill 0 = %v", pid, err)
	}
}

func TestRelayContextEndStopsTheServer(t *testing.T) {
	defer noLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	h := startRelay(t, setup{ctx: ctx})
	h.initialize()
	cancel()
	if err := h.wait(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	h.in.Close()
	h.serverGone()
}

func TestRelayFinishesCallsInFlightWhenTheClientCloses(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{})
	h.initialize()
	h.send(`{"jsonrpc":"2.0","id":"last","method":"tools/call","params":{"name":"slow"}}`)
	h.in.Close()
	if text, _ := toolText(t, fields(t, h.recvID(`"last"`))); text != "slow done" {
		t.Errorf("answer = %q", text)
	}
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
}

func TestRelayServerOutputChecks(t *testing.T) {
	defer noLeaks(t)
	h := startRelay(t, setup{config: mcp.Config{MaxResponseBytes: 64 << 10}})
	h.initialize()
	// A line that is not JSON-RPC never reaches the client.
	if text, _ := toolText(t, h.request("1", "tools/call", `{"name":"garbage"}`)); text != "after garbage" {
		t.Errorf("answer = %q", text)
	}
	// A response over the limit becomes an error for its request.
	code, msg := errorCode(t, h.request("2", "tools/call", `{"name":"big","arguments":{"size":100000}}`))
	if code != jsonrpc.CodeUpstream || !strings.Contains(msg, "max_response_bytes") {
		t.Errorf("oversized response: %d %q", code, msg)
	}
	if text, _ := toolText(t, h.request("3", "tools/call", `{"name":"big","arguments":{"size":1000}}`)); len(text) != 1000 {
		t.Errorf("after an oversized response: %d bytes", len(text))
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if len(h.seen) != 0 {
		t.Errorf("unexpected messages: %q", h.seen)
	}
}

func TestRelayStartFailure(t *testing.T) {
	defer noLeaks(t)
	g, _ := gate.New(gate.Options{Tools: gate.NewTools("x", nil, "", nil), Pipeline: mustPipeline(t)})
	err := Run(context.Background(), Options{Command: []string{"/nonexistent/mcp-server"}, Gate: g}, strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "cannot start the MCP server") {
		t.Fatalf("Run = %v", err)
	}
}

func mustPipeline(t *testing.T) *enforce.Pipeline {
	set, err := policy.NewSet(policy.OrgLayer, policy.BuiltinSources())
	if err != nil {
		t.Fatal(err)
	}
	p, err := enforce.New(enforce.Config{Policies: policy.NewStaticEngine(set)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
