package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// fillTrail appends n records to the trail: decisions of 50 agents acting
// for 20 users on 6 tools over the last day (90 % allow, 6 % deny, 4 % ask),
// each allowed call followed by its outcome. The records have the fields
// the console reads; their chain is not computed (nothing here verifies it).
func fillTrail(tb testing.TB, db *sqlite.DB, n int, now time.Time) string {
	tb.Helper()
	tools := []string{"bank/pay", "bank/balance", "fs/read_file", "fs/write_file", "db/query", "web/fetch"}
	var lastID string
	seq := uint64(0)
	for seq < uint64(n) {
		err := db.AppendAudit(context.Background(), func(h store.AuditHead) (store.AuditBatch, error) {
			var b store.AuditBatch
			for len(b.Entries) < 2000 && seq < uint64(n) {
				i := int(seq)
				at := now.Add(-24 * time.Hour).Add(time.Duration(i) * (24 * time.Hour / time.Duration(n)))
				effect := "allow"
				switch {
				case i%50 < 3:
					effect = "deny"
				case i%50 < 5:
					effect = "ask"
				}
				tool := tools[i%len(tools)]
				id := fmt.Sprintf("01a2%028d", i)
				agent, user := fmt.Sprintf("bot%d", i%50), fmt.Sprintf("user%d", i%20)
				rec := map[string]any{
					"type": "decision", "seq": seq + 1, "decision_id": id, "time": at, "actor_type": "agent",
					"principal": map[string]any{"kind": "agent", "id": agent}, "on_behalf_of": user,
					"task_id": fmt.Sprintf("tsk_%d", i%500), "server": tool[:len(tool)-len(tool[indexSlash(tool):])], "tool": tool[indexSlash(tool)+1:],
					"arguments": map[string]any{"amount": i, "to": "acct-" + fmt.Sprint(i%97)},
					"effect":    effect, "stage": "decide", "layer": "org", "policies": []string{"bank-all"},
					"reasons": []map[string]any{{"kind": "policy", "policy": "bank-all", "message": "allowed by bank-all"}},
				}
				body, _ := json.Marshal(rec)
				seq++
				b.Entries = append(b.Entries, store.AuditEntry{Seq: seq, Body: body, Kind: "decision", DecisionID: id, Time: at,
					Principal: agent, OnBehalfOf: user, TaskID: rec["task_id"].(string), Server: rec["server"].(string), Tool: rec["tool"].(string), Effect: effect})
				lastID = id
				if effect == "allow" && seq < uint64(n) {
					out, _ := json.Marshal(map[string]any{"type": "outcome", "seq": seq + 1, "decision_id": id, "time": at, "status": "ok", "duration_ms": 1.5})
					seq++
					b.Entries = append(b.Entries, store.AuditEntry{Seq: seq, Body: out, Kind: "outcome", DecisionID: id, Time: at, Status: "ok"})
				}
			}
			return b, nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return lastID
}

func indexSlash(s string) int {
	for i := range s {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// BenchmarkPagesWith100kRecords: each console page over a trail of
// 100,000 records, as a signed-in browser asks for it (server time plus
// a loopback round trip). The target is 100 ms a page (docs/console.md).
func BenchmarkPagesWith100kRecords(b *testing.B) {
	e := newEnv(b)
	last := fillTrail(b, e.db, 100_000, e.clock.now())
	op := e.signedIn(adminKey)
	pages := []struct{ name, path string }{
		{"decisions", "/console/decisions"},
		{"decisions-live-rows", "/console/decisions/rows"},
		{"decisions-deny", "/console/decisions?effect=deny"},
		{"decisions-agent", "/console/decisions?agent=bot7"},
		{"decisions-task", "/console/decisions?task=tsk_42"},
		{"decisions-nothing-matches", "/console/decisions?tool=none/none"},
		{"decision-record", "/console/decisions/" + last},
		{"audit", "/console/audit"},
		{"audit-search", "/console/audit?since=1h&tool=bank/pay&effect=allow"},
		{"approvals", "/console/approvals"},
		{"policies", "/console/policies"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				if resp, _ := op.get(p.path); resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d", p.path, resp.StatusCode)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}

// A search reads at most a window of the newest records and links to the
// older ones, which it then searches.
func TestSearchIsWindowedAndReachesOlderRecords(t *testing.T) {
	e := newEnv(t)
	fillTrail(t, e.db, 45_000, e.clock.now())
	op := e.signedIn(adminKey)
	_, page := op.get("/console/audit?task=tsk_7&tool=" + url.QueryEscape("bank/balance"))
	m := regexp.MustCompile(`id="older" href="(/console/audit\?[^"]+)"`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "from #25001 on") || !strings.Contains(page, "<code>tsk_7</code>") {
		t.Fatalf("no link to older records:\n%s", page)
	}
	older := strings.ReplaceAll(m[1], "&amp;", "&")
	u, err := url.Parse(older)
	if err != nil || u.Query().Get("task") != "tsk_7" || u.Query().Get("tool") != "bank/balance" || u.Query().Get("until") == "" {
		t.Fatalf("the link to older records: %q", older)
	}
	_, page = op.get(older)
	if !regexp.MustCompile(`from #500[01] on`).MatchString(page) || !strings.Contains(page, "<code>tsk_7</code>") {
		t.Fatalf("the older window:\n%s", page)
	}
}
