package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// TestApprovalThroughRun: `toolgate run` holds each payment for a person.
// A `toolgate serve` on the same data directory serves the admin API and
// the links; `toolgate approval` answers as the operator.
func TestApprovalThroughRun(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("run", "  timeout: 60s\n  link_ttl: 6s\n")
	w.serve(cfg)
	cs, tg := w.run(cfg)

	// approve → the call runs once; the webhook got the payload.
	call := pay(cs, 100, "acct-1")
	a1 := w.pending()
	id1 := a1["id"].(string)
	if a1["tool"] != "bank/pay" || a1["principal"] != `Agent::"local"` || len(a1["args_sha256"].(string)) != 64 {
		t.Fatalf("pending approval: %v", a1)
	}
	h1 := w.hook(id1)
	link1, _ := h1.Payload["link"].(string)
	if h1.Payload["type"] != "toolgate.approval.requested" || !strings.HasPrefix(link1, w.base+"/v1/approval-links/") ||
		h1.Header.Get("X-Toolgate-Approval") != id1 {
		t.Fatalf("webhook: %v %v", h1.Payload, h1.Header)
	}
	linkIssued := time.Now()

	// An unauthorised approver is rejected: a person without the right,
	// an agent, nobody.
	if status, out := w.api(keyMallory, "POST", "/v1/approvals/"+id1+"/approve", nil); status != http.StatusNotFound && status != http.StatusForbidden {
		t.Fatalf("mallory approved: %d %v", status, out)
	}
	if status, out := w.api(keyBot, "POST", "/v1/approvals/"+id1+"/approve", nil); status != http.StatusForbidden || errCode(out) != "approval.agent" {
		t.Fatalf("the agent approved: %d %v", status, out)
	}
	if status, _ := w.api("", "POST", "/v1/approvals/"+id1+"/approve", nil); status != http.StatusUnauthorized {
		t.Fatalf("anonymous approval: %d", status)
	}
	if status, out := w.api(keyMallory, "GET", "/v1/approvals", nil); status != 200 || len(out["approvals"].([]any)) != 0 {
		t.Fatalf("mallory sees approvals: %v", out)
	}
	if got := w.payments(); len(got) != 0 {
		t.Fatalf("paid before approval: %v", got)
	}

	status, out := w.api(keyCarol, "POST", "/v1/approvals/"+id1+"/approve", map[string]any{"comment": "rent"})
	if status != 200 || out["state"] != "approved" {
		t.Fatalf("approve: %d %v", status, out)
	}
	if got := wait(t, call); got != "paid 100 to acct-1" {
		t.Fatalf("approved call: %q", got)
	}
	if got := w.payments(); len(got) != 1 {
		t.Fatalf("payments: %v", got)
	}

	// Replay of the used approval is rejected, by the API and by the link.
	if status, out := w.api(keyCarol, "POST", "/v1/approvals/"+id1+"/approve", nil); status != http.StatusConflict || errCode(out) != "approval.not_pending" {
		t.Fatalf("replayed approval: %d %v", status, out)
	}
	if status, _ := postLink(t, link1, "approve"); status != http.StatusConflict {
		t.Fatalf("replayed link: %d", status)
	}

	// The same call again needs a new approval; deny → the agent reads
	// the reason. Denied through the CLI.
	call = pay(cs, 100, "acct-1")
	a2 := w.pending(id1)
	id2 := a2["id"].(string)
	if a2["args_sha256"] != a1["args_sha256"] {
		t.Fatal("the same arguments have another digest")
	}
	if out, err := w.cli(cfg, "deny", id2, "--comment", "rent was paid already"); err != nil || !strings.Contains(out, "denied "+id2) {
		t.Fatalf("approval deny: %v\n%s", err, out)
	}
	if got := wait(t, call); !strings.HasPrefix(got, "denied: ") || !strings.Contains(got, "rent was paid already") || !strings.Contains(got, id2) {
		t.Fatalf("denied call: %q", got)
	}

	// Changed arguments → a new approval, answered through the webhook's
	// signed link; a tampered link is rejected.
	call = pay(cs, 250, "acct-2")
	a3 := w.pending(id1, id2)
	id3 := a3["id"].(string)
	if a3["args_sha256"] == a1["args_sha256"] {
		t.Fatal("other arguments have the same digest")
	}
	link3 := w.hook(id3).Payload["link"].(string)
	if status, page := getLink(t, link3); status != 200 || !strings.Contains(page, "acct-2") || !strings.Contains(page, id3) {
		t.Fatalf("link page: %d\n%s", status, page)
	}
	for _, bad := range tampered(link3) {
		if status, _ := postLink(t, bad, "approve"); status != http.StatusUnauthorized {
			t.Fatalf("tampered link %s: %d", bad, status)
		}
	}
	if status, body := postLink(t, link3, "approve"); status != 200 || !strings.Contains(body, "recorded") {
		t.Fatalf("link approve: %d %s", status, body)
	}
	if got := wait(t, call); got != "paid 250 to acct-2" {
		t.Fatalf("link-approved call: %q", got)
	}

	// An expired link is rejected (link_ttl 6s), though its approval
	// could still be answered.
	time.Sleep(time.Until(linkIssued.Add(7 * time.Second)))
	if status, body := postLink(t, link1, "approve"); status != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Fatalf("expired link: %d %s", status, body)
	}

	// Restart while pending → still pending and decidable: toolgate run
	// stops (SIGINT) while the call waits, the operator approves, and the
	// same call through a new toolgate run runs once.
	call = pay(cs, 300, "acct-3")
	a4 := w.pending(id1, id2, id3)
	id4 := a4["id"].(string)
	_ = tg.Process.Signal(os.Interrupt)
	if got := wait(t, call); strings.Contains(got, "paid") {
		t.Fatalf("the call of a stopped toolgate: %q", got)
	}
	cs.Close()
	if out, err := w.cli(cfg, "list"); err != nil || !strings.Contains(out, id4) || !strings.Contains(out, "pending") {
		t.Fatalf("approval list after the restart: %v\n%s", err, out)
	}
	if out, err := w.cli(cfg, "approve", id4, "--comment", "ok after restart"); err != nil {
		t.Fatalf("approval approve: %v\n%s", err, out)
	}
	cs, _ = w.run(cfg)
	if got := wait(t, pay(cs, 300, "acct-3")); got != "paid 300 to acct-3" {
		t.Fatalf("after restart: %q", got)
	}
	if got := w.payments(); len(got) != 3 {
		t.Fatalf("payments: %v", got)
	}

	// Timeout → deny (another toolgate run with a 2s timeout).
	short := w.config("short", "  timeout: 2s\n")
	cs2, _ := w.run(short)
	res := <-pay(cs2, 1, "acct-4")
	if got := resultText(res); !strings.HasPrefix(got, "denied: ") || !strings.Contains(got, "nobody approved the call within 2s") {
		t.Fatalf("timed out call: %q", got)
	}
	// The agent's client can read which approval it was, in _meta.
	var meta struct {
		Decision struct {
			Reasons []struct{ Code, Approval string } `json:"reasons"`
		} `json:"toolgate/decision"`
	}
	b, _ := json.Marshal(res.res.Meta)
	if err := json.Unmarshal(b, &meta); err != nil || len(meta.Decision.Reasons) == 0 {
		t.Fatalf("_meta: %s", b)
	}
	if r := meta.Decision.Reasons[len(meta.Decision.Reasons)-1]; r.Code != "approval.timeout" || !strings.HasPrefix(r.Approval, "apv_") {
		t.Fatalf("_meta reasons: %s", b)
	}
	if got := w.payments(); len(got) != 3 {
		t.Fatalf("payments: %v", got)
	}
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func postLink(t *testing.T, link, decision string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(link, url.Values{"decision": {decision}, "comment": {"via link"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	_, _ = io.Copy(b, resp.Body)
	return resp.StatusCode, b.String()
}

func getLink(t *testing.T, link string) (int, string) {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	_, _ = io.Copy(b, resp.Body)
	return resp.StatusCode, b.String()
}

// tampered returns the link with its signature, its claims and its header
// changed.
func tampered(link string) []string {
	i := strings.LastIndex(link, "/")
	prefix, tok := link[:i+1], link[i+1:]
	parts := strings.Split(tok, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		} else {
			b[len(b)/2] = 'A'
		}
		return string(b)
	}
	return []string{
		prefix + parts[0] + "." + parts[1] + "." + flip(parts[2]),
		prefix + parts[0] + "." + flip(parts[1]) + "." + parts[2],
		prefix + flip(parts[0]) + "." + parts[1] + "." + parts[2],
		prefix + "not-a-token",
	}
}
