package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBatchesWhereTheVersionHasThem: MCP 2025-03-26 allows JSON-RPC batches
// in a POST; toolgate handles each message of a batch as if it came alone
// (a tools/call is judged: allowed, denied with its reason) and answers
// with one array (on the legacy HTTP+SSE transport, one array on the
// session's stream). A bad item gets its own error and loses nothing else.
// In a session of a later version a batch is refused, as the spec removed
// them.
func TestBatchesWhereTheVersionHasThem(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.cedar")
	if err := os.WriteFile(pol, []byte(`@id("all") permit(principal, action, resource);
@id("no-images") @reason("images are not allowed here")
forbid(principal, action == Action::"ours/test_image_content", resource);
`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := serve(t, fmt.Sprintf("principal: {id: batcher}\npolicy: {dirs: [%s]}\nservers:\n  - {name: ours, url: %q}\n", pol, startConfServer(t)))
	url := base + "/mcp/ours"

	old := rawSession(t, url, "2025-03-26")
	status, body := rawPost(t, url, old, `[
		{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"test_simple_text"}},
		{"jsonrpc":"2.0","id":"two","method":"tools/call","params":{"name":"test_image_content"}},
		{"jsonrpc":"2.0","method":"notifications/roots/list_changed"},
		{"jsonrpc":"2.0","id":3,"method":"ping"},
		{"id":4,"method":"no jsonrpc member"}
	]`)
	if status != http.StatusOK {
		t.Fatalf("batch: %d %s", status, body)
	}
	var answers []struct {
		ID     json.RawMessage `json:"id"`
		Result *struct {
			IsError bool `json:"isError"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &answers); err != nil {
		t.Fatalf("the answer to a batch is not an array: %v\n%s", err, body)
	}
	byID := map[string]int{}
	for i, a := range answers {
		byID[string(a.ID)] = i
	}
	if len(answers) != 4 {
		t.Fatalf("want 4 answers (three requests and the bad item), got %s", body)
	}
	if a := answers[byID["1"]]; a.Result == nil || a.Result.IsError || len(a.Result.Content) == 0 {
		t.Errorf("allowed call in a batch: %s", body)
	}
	if a := answers[byID[`"two"`]]; a.Result == nil || !a.Result.IsError || !strings.Contains(a.Result.Content[0].Text, "images are not allowed here") {
		t.Errorf("denied call in a batch: %s", body)
	}
	if a := answers[byID["3"]]; a.Result == nil {
		t.Errorf("ping in a batch: %s", body)
	}
	if i, ok := byID["4"]; !ok || answers[i].Error == nil || answers[i].Error.Code != -32600 {
		t.Errorf("bad item in a batch: %s", body)
	}

	// A server's message about a request of the batch (log messages of a
	// call) turns the answer into an event stream that carries it and then
	// every answer. (The server logs only once a level is set.)
	if status, body := rawPost(t, url, old, `{"jsonrpc":"2.0","id":"lvl","method":"logging/setLevel","params":{"level":"debug"}}`); status != http.StatusOK {
		t.Fatalf("setLevel: %d %s", status, body)
	}
	status, body = rawPost(t, url, old, `[
		{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_tool_with_logging"}},
		{"jsonrpc":"2.0","id":6,"method":"ping"}
	]`)
	if status != http.StatusOK || !bytes.Contains(body, []byte("event: message")) ||
		!bytes.Contains(body, []byte(`"notifications/message"`)) || !bytes.Contains(body, []byte(`"id":5`)) || !bytes.Contains(body, []byte(`"id":6`)) {
		t.Errorf("batch with related messages: %d %s", status, body)
	}

	// A batch of notifications only: accepted, nothing to answer.
	if status, body := rawPost(t, url, old, `[{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}]`); status != http.StatusAccepted {
		t.Errorf("batch of notifications: %d %s", status, body)
	}

	// The legacy HTTP+SSE transport (2024-11-05): the batch's answers come
	// on the session's stream as one array.
	events, post := legacySession(t, base+"/sse/ours")
	post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"old","version":"1"}}}`)
	if ev := <-events; !strings.Contains(ev, `"protocolVersion":"2024-11-05"`) {
		t.Fatalf("legacy initialize: %s", ev)
	}
	post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	post(`[{"jsonrpc":"2.0","id":7,"method":"ping"},{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"test_image_content"}}]`)
	if ev := <-events; !strings.HasPrefix(ev, "[") || !strings.Contains(ev, `"id":7`) || !strings.Contains(ev, "images are not allowed here") {
		t.Errorf("legacy batch: %s", ev)
	}

	current := rawSession(t, url, "2025-06-18")
	status, body = rawPost(t, url, current, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`)
	if status != http.StatusBadRequest || !bytes.Contains(body, []byte("-32600")) || !bytes.Contains(body, []byte("2025-06-18")) {
		t.Errorf("batch in a 2025-06-18 session: %d %s", status, body)
	}
}

// legacySession opens a legacy HTTP+SSE session: the stream's message
// events arrive on the channel; post sends a message to the session.
func legacySession(t *testing.T, sseURL string) (<-chan string, func(string)) {
	t.Helper()
	resp, err := http.Get(sseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var endpoint string
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = v
			break
		}
	}
	if !strings.HasPrefix(endpoint, "/message?") {
		t.Fatalf("no endpoint event on %s", sseURL)
	}
	events := make(chan string, 16)
	go func() {
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- v
			}
		}
	}()
	base := sseURL[:strings.Index(sseURL, "/sse")]
	return events, func(body string) {
		resp, err := http.Post(base+endpoint, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("legacy post: %d %s", resp.StatusCode, b)
		}
	}
}

// rawSession opens a session at protocol version v and returns its id.
func rawSession(t *testing.T, url, v string) string {
	t.Helper()
	resp, b := mcpPost(t, url, "", fmt.Sprintf(
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"batch","version":"1"}}}`, v))
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" || !bytes.Contains(b, []byte(`"protocolVersion":"`+v+`"`)) {
		t.Fatalf("initialize at %s: %d %s", v, resp.StatusCode, b)
	}
	if status, body := rawPost(t, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", status, body)
	}
	return sid
}

// rawPost POSTs a JSON-RPC body to an MCP endpoint (in session sid, if
// set) and returns the status and the body of the answer.
func rawPost(t *testing.T, url, sid, body string) (int, []byte) {
	t.Helper()
	resp, b := mcpPost(t, url, sid, body)
	return resp.StatusCode, b
}

// mcpPost is rawPost for a test that needs the answer's headers too.
func mcpPost(t *testing.T, url, sid, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
