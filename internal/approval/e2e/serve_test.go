package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/testutil"
)

// bearer adds the agent's API key to every request of the Go SDK client.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// gateway connects the Go SDK client to serve's MCP endpoint for the bank,
// as the agent bot (acting for alice).
func (w *world) gateway() *mcp.ClientSession { return w.gatewayWith(nil) }

func (w *world) gatewayWith(opts *mcp.ClientOptions) *mcp.ClientSession {
	w.t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "approval-e2e", Version: "1"}, opts)
	tr := &mcp.StreamableClientTransport{Endpoint: w.base + "/mcp/bank", HTTPClient: &http.Client{Transport: bearer{keyBot}}}
	cs, err := client.Connect(context.Background(), tr, nil)
	if err != nil {
		w.t.Fatalf("connect: %v", err)
	}
	w.t.Cleanup(func() { cs.Close() })
	return cs
}

// TestApprovalThroughServe: the same through `toolgate serve` — its MCP
// gateway (an agent with an API key), its admin API, its AuthZEN API and
// the webhook's links — and the approvals in its audit trail.
func TestApprovalThroughServe(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("serve", "  timeout: 60s\n")
	srv := w.serve(cfg)
	cs := w.gateway()

	// approve → the call runs once.
	call := pay(cs, 100, "acct-1")
	a1 := w.pending()
	id1 := a1["id"].(string)
	if a1["principal"] != `Agent::"bot"` || a1["owner"] != "alice" {
		t.Fatalf("pending approval: %v", a1)
	}
	// An unauthorised approver is rejected.
	if status, out := w.api(keyMallory, "POST", "/v1/approvals/"+id1+"/approve", nil); status != http.StatusForbidden || errCode(out) != "approval.forbidden" {
		t.Fatalf("mallory approved: %d %v", status, out)
	}
	if status, out := w.api(keyBot, "POST", "/v1/approvals/"+id1+"/approve", nil); status != http.StatusForbidden {
		t.Fatalf("the calling agent approved: %d %v", status, out)
	}
	if status, out := w.api(keyCarol, "POST", "/v1/approvals/"+id1+"/approve", map[string]any{"comment": "rent"}); status != 200 {
		t.Fatalf("approve: %d %v", status, out)
	}
	if got := wait(t, call); got != "paid 100 to acct-1" {
		t.Fatalf("approved call: %q", got)
	}
	// Replay → rejected; the same call again asks again.
	if status, _ := w.api(keyCarol, "POST", "/v1/approvals/"+id1+"/approve", nil); status != http.StatusConflict {
		t.Fatalf("replayed approval: %d", status)
	}
	call = pay(cs, 100, "acct-1")
	id2 := w.pending(id1)["id"].(string)
	// deny → the agent reads the reason.
	if status, out := w.api(keyCarol, "POST", "/v1/approvals/"+id2+"/deny", map[string]any{"comment": "paid already"}); status != 200 || out["state"] != "denied" {
		t.Fatalf("deny: %d %v", status, out)
	}
	if got := wait(t, call); !strings.HasPrefix(got, "denied: ") || !strings.Contains(got, "paid already") {
		t.Fatalf("denied call: %q", got)
	}
	// Changed arguments → a new approval; the webhook's link approves it.
	call = pay(cs, 250, "acct-2")
	a3 := w.pending(id1, id2)
	id3 := a3["id"].(string)
	if a3["args_sha256"] == a1["args_sha256"] {
		t.Fatal("other arguments, same digest")
	}
	link := w.hook(id3).Payload["link"].(string)
	if status, _ := postLink(t, tampered(link)[0], "approve"); status != http.StatusUnauthorized {
		t.Fatalf("tampered link: %d", status)
	}
	if status, _ := postLink(t, link, "approve"); status != 200 {
		t.Fatalf("link: %d", status)
	}
	if got := wait(t, call); got != "paid 250 to acct-2" {
		t.Fatalf("link-approved call: %q", got)
	}

	// AuthZEN: ask (a pending approval), allow once after approval, then
	// ask again.
	eval := map[string]any{
		"subject":  map[string]any{"type": "agent", "id": "bot"},
		"action":   map[string]any{"name": "bank/pay"},
		"resource": map[string]any{"type": "server", "id": "bank"},
		"context":  map[string]any{"input": map[string]any{"amount": 5, "to": "acct-5"}},
	}
	if _, out := w.api(keyBot, "POST", "/access/v1/evaluation", eval); effect(out) != "ask" {
		t.Fatalf("authzen: %v", out)
	}
	id4 := w.pending(id1, id2, id3)["id"].(string)
	w.api(keyCarol, "POST", "/v1/approvals/"+id4+"/approve", nil)
	if _, out := w.api(keyBot, "POST", "/access/v1/evaluation", eval); out["decision"] != true {
		t.Fatalf("authzen after approval: %v", out)
	}
	if _, out := w.api(keyBot, "POST", "/access/v1/evaluation", eval); effect(out) != "ask" {
		t.Fatalf("authzen replay: %v", out)
	}
	seen := []string{id1, id2, id3, id4, w.pending(id1, id2, id3, id4)["id"].(string)}

	// Restart while pending → still pending and decidable.
	call = pay(cs, 300, "acct-3")
	id5 := w.pending(seen...)["id"].(string)
	srv.stop()
	if got := wait(t, call); strings.Contains(got, "paid") {
		t.Fatalf("the call through a stopped serve: %q", got)
	}
	short := w.config("short", "  timeout: 3s\n")
	w.serve(short)
	if status, out := w.api(keyCarol, "GET", "/v1/approvals/"+id5, nil); status != 200 || out["state"] != "pending" {
		t.Fatalf("after the restart: %d %v", status, out)
	}
	if status, out := w.api(keyCarol, "POST", "/v1/approvals/"+id5+"/approve", nil); status != 200 {
		t.Fatalf("approve after the restart: %d %v", status, out)
	}
	cs = w.gateway()
	if got := wait(t, pay(cs, 300, "acct-3")); got != "paid 300 to acct-3" {
		t.Fatalf("after restart: %q", got)
	}
	// Timeout → deny (approvals.timeout: 3s now).
	if got := wait(t, pay(cs, 1, "acct-4")); !strings.HasPrefix(got, "denied: ") || !strings.Contains(got, "nobody approved the call within 3s") {
		t.Fatalf("timed out call: %q", got)
	}
	if got := w.payments(); len(got) != 3 {
		t.Fatalf("payments: %v", got)
	}

	// The audit trail holds approver, time, comment and wait.
	out, err := exec.Command(testutil.Toolgate(t), "--config", short, "audit", "query", "--tool", "bank/pay", "--effect", "allow", "--no-outcomes").Output()
	if err != nil {
		t.Fatalf("audit query: %v", err)
	}
	var approvals []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			if a, ok := rec["approval"].(map[string]any); ok {
				approvals = append(approvals, a)
			}
		}
	}
	if len(approvals) != 4 {
		t.Fatalf("approvals in the trail: %v\n%s", approvals, out)
	}
	first := approvals[0]
	if first["approver"] != `User::"carol"` || first["comment"] != "rent" || first["id"] != id1 || first["answer"] != "approved" ||
		first["time"] == nil || first["waited_ms"].(float64) <= 0 {
		t.Fatalf("first approval in the trail: %v", first)
	}
	if approvals[1]["approver"] != `Webhook::"hook"` || approvals[1]["channel"] != "link" {
		t.Fatalf("link approval in the trail: %v", approvals[1])
	}
}

func effect(out map[string]any) string {
	c, _ := out["context"].(map[string]any)
	s, _ := c["effect"].(string)
	return s
}
