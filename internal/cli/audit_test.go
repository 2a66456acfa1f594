package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/sqlite"
	"github.com/toolgate/toolgate/internal/testutil"
)

// seedTrail writes decisions into a real trail in dir: agent-1 allowed
// fs/read for task t1, agent-2 denied db/drop, a user asked bank/pay.
func seedTrail(t *testing.T, dir string) *audit.Trail {
	t.Helper()
	tr, err := audit.OpenSQLite(audit.Config{}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	write := func(i int, kind call.PrincipalKind, who, tool string, eff call.Effect, input string) {
		server, name, _ := strings.Cut(tool, "/")
		c := &call.Call{ID: fmt.Sprintf("d%d", i), Time: base.Add(time.Duration(i) * time.Minute),
			Principal: call.Principal{Kind: kind, ID: who, Owner: "alice"},
			Server:    call.Server{Name: server}, Tool: call.Tool{Name: name}, Input: json.RawMessage(input)}
		if i%2 == 1 {
			c.Task = &call.Task{ID: "t1", Purpose: "p"}
		}
		if err := tr.WriteDecision(context.Background(), audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: eff, Policies: []string{}}, nil)); err != nil {
			t.Fatal(err)
		}
		if eff == call.Allow {
			tr.WriteOutcome(context.Background(), &audit.OutcomeRecord{DecisionID: c.ID, Time: c.Time.Add(time.Second), Status: call.OutcomeOK})
		}
	}
	write(1, call.KindAgent, "agent-1", "fs/read", call.Allow, `{"path":"/a","password":"hunter22"}`)
	write(2, call.KindAgent, "agent-2", "db/drop", call.Deny, `{}`)
	write(3, call.KindUser, "bob", "bank/pay", call.Ask, `{}`)
	write(4, call.KindAgent, "agent-1", "fs/read", call.Allow, `{"path":"/b"}`)
	return tr
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func seqs(out string) []int {
	var s []int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Seq int }
		if json.Unmarshal([]byte(l), &r) == nil {
			s = append(s, r.Seq)
		}
	}
	return s
}

func TestAuditVerifyCLI(t *testing.T) {
	dir := t.TempDir()
	seedTrail(t, dir).Close()
	code, out, errs := runCLI(t, "audit", "verify", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(out, "OK: ") || !strings.Contains(out, "6 records") {
		t.Fatalf("code %d, out %q, err %q", code, out, errs)
	}
	db, _ := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
	db.SQL().Exec(`DELETE FROM audit_records WHERE seq = 3`)
	db.Close()
	code, out, _ = runCLI(t, "audit", "verify", "--data-dir", dir)
	if code != ExitError || !strings.Contains(out, "FAILED") || !strings.Contains(out, "the first bad record is 3") || !strings.Contains(out, "missing") {
		t.Fatalf("code %d, out %q", code, out)
	}
	code, out, _ = runCLI(t, "audit", "verify", "--data-dir", dir, "--json")
	var rep audit.Report
	if code != ExitError || json.Unmarshal([]byte(out), &rep) != nil || rep.FirstBad != 3 {
		t.Fatalf("code %d, out %q", code, out)
	}
}

func TestAuditQueryCLI(t *testing.T) {
	dir := t.TempDir()
	seedTrail(t, dir).Close()
	cases := []struct {
		args []string
		want []int
	}{
		{nil, []int{1, 2, 3, 4, 5, 6}},
		{[]string{"--principal", "agent-1"}, []int{1, 2, 5, 6}},
		{[]string{"--principal", "agent-1", "--no-outcomes"}, []int{1, 5}},
		{[]string{"--effect", "deny"}, []int{3}},
		{[]string{"--tool", "bank/pay"}, []int{4}},
		{[]string{"--server", "fs", "--no-outcomes"}, []int{1, 5}},
		{[]string{"--task", "t1", "--no-outcomes"}, []int{1, 4}},
		{[]string{"--user", "alice", "--effect", "ask"}, []int{4}},
		{[]string{"--decision", "d4"}, []int{5, 6}},
		{[]string{"--since", "2026-11-01T12:02:00Z", "--until", "2026-11-01T12:04:00Z"}, []int{3, 4}},
		{[]string{"--secret", "hunter22"}, []int{1}},
		{[]string{"--limit", "2"}, []int{1, 2}},
	}
	for _, tc := range cases {
		code, out, errs := runCLI(t, append([]string{"audit", "query", "--data-dir", dir}, tc.args...)...)
		if code != 0 || fmt.Sprint(seqs(out)) != fmt.Sprint(tc.want) {
			t.Errorf("query %v: code %d, seqs %v, want %v (%s)", tc.args, code, seqs(out), tc.want, errs)
		}
	}
	if code, out, _ := runCLI(t, "audit", "query", "--data-dir", dir, "--format", "table", "--effect", "deny"); code != 0 ||
		!strings.Contains(out, "SEQ") || !strings.Contains(out, "agent-2") || !strings.Contains(out, "db/drop") {
		t.Errorf("table: %d %q", code, out)
	}
	if code, _, _ := runCLI(t, "audit", "query", "--data-dir", dir, "--effect", "maybe"); code != ExitUsage {
		t.Errorf("bad effect: code %d", code)
	}
	// The record as printed is the record as stored: its hash is the next
	// record's prev_hash.
	_, out, _ := runCLI(t, "audit", "query", "--data-dir", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var r2 struct {
		PrevHash string `json:"prev_hash"`
	}
	json.Unmarshal([]byte(lines[1]), &r2)
	if audit.HashOf([]byte(lines[0])).String() != r2.PrevHash {
		t.Fatal("printed records do not chain")
	}
}

func TestAuditTailCLI(t *testing.T) {
	dir := t.TempDir()
	tr := seedTrail(t, dir)
	// Outcomes are committed after WriteOutcome returns; Close commits
	// every queued record.
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "audit", "tail", "--data-dir", dir, "-n", "2")
	if code != 0 || fmt.Sprint(seqs(out)) != "[5 6]" {
		t.Fatalf("tail: %d %v", code, seqs(out))
	}
	// Follow: records written while following are printed once each. The
	// test delivers the polls itself: once tailAudit has taken poll k+1,
	// its pass k is done.
	tr, err := audit.OpenSQLite(audit.Config{}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	db, _ := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
	defer db.Close()
	var buf testutil.SyncBuffer
	p := &printer{w: &buf}
	ctx, cancel := context.WithCancel(context.Background())
	polls := make(chan time.Time)
	done := make(chan error)
	go func() {
		done <- tailAudit(ctx, db, store.AuditFilter{Effect: "allow", WithOutcomes: true}, 1, polls, p)
	}()
	polls <- time.Time{} // taken: the first pass is done
	if got := fmt.Sprint(seqs(buf.String())); got != "[6]" {
		t.Fatalf("first pass printed %s: %s", got, buf.String())
	}
	for i := 10; i < 13; i++ {
		c := &call.Call{ID: fmt.Sprintf("f%d", i), Time: time.Now(), Principal: call.Principal{Kind: call.KindAgent, ID: "a"},
			Server: call.Server{Name: "fs"}, Tool: call.Tool{Name: "read"}}
		eff := call.Allow
		if i == 11 {
			eff = call.Deny
		}
		// WriteDecision returns once the record is committed.
		if err := tr.WriteDecision(context.Background(), audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: eff}, nil)); err != nil {
			t.Fatal(err)
		}
		polls <- time.Time{} // a pass after each record
	}
	polls <- time.Time{} // the last record's pass is done
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(seqs(buf.String())); got != "[6 7 9]" {
		t.Fatalf("followed %s: %s", got, buf.String())
	}
}

// TestAuditServeEndToEnd: `toolgate serve` with no configuration writes
// its decisions to the sqlite trail in the data directory; after a clean
// shutdown, `audit query` shows them and `audit verify` passes with nothing
// left unsigned.
func TestAuditServeEndToEnd(t *testing.T) {
	bin := testutil.Toolgate(t)
	dataDir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	base := startServe(t, cmd)
	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	for _, body := range []string{
		`{"subject":{"type":"agent","id":"a1"},"action":{"name":"fs/read_file","properties":{"annotations":{"readOnlyHint":true}}},"resource":{"type":"server","id":"fs"},"context":{"input":{"path":"/w/a.md","token":"s3cr3t-value"}}}`,
		`{"subject":{"type":"agent","id":"a2"},"action":{"name":"fs/write_file"},"resource":{"type":"server","id":"fs"}}`,
	} {
		resp, err := http.Post(base+"/access/v1/evaluation", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve: %v", err)
	}

	code, out, errs := runCLI(t, "audit", "query", "--data-dir", dataDir, "--no-outcomes")
	if code != 0 {
		t.Fatalf("query: %d %s", code, errs)
	}
	recs := strings.Split(strings.TrimSpace(out), "\n")
	if len(recs) != 2 || !strings.Contains(recs[0], `"principal":{"kind":"agent","id":"a1"}`) || !strings.Contains(recs[0], `"effect":"allow"`) ||
		!strings.Contains(recs[1], `"effect":"ask"`) {
		t.Fatalf("records: %s", out)
	}
	if strings.Contains(out, "s3cr3t-value") || !strings.Contains(recs[0], `"token":"[redacted:`) {
		t.Fatalf("the secret argument was not redacted: %s", recs[0])
	}
	code, out, _ = runCLI(t, "audit", "verify", "--data-dir", dataDir, "--json")
	var rep audit.Report
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || rep.Records != 2 || rep.Unsigned != 0 {
		t.Fatalf("verify: %d %s", code, out)
	}
}

// TestAuditExportArchive: the archive of a trail verifies on its own, and
// edits, deletions and reordering in the archive are found as in the
// database.
func TestAuditExportArchive(t *testing.T) {
	dir := t.TempDir()
	seedTrail(t, dir).Close()
	archive := filepath.Join(t.TempDir(), "trail.jsonl")
	if code, _, errs := runCLI(t, "audit", "export", "--data-dir", dir, "--out", archive); code != 0 || !strings.Contains(errs, "exported 6 records") {
		t.Fatalf("export: code %d, %q", code, errs)
	}
	pub := filepath.Join(dir, audit.PublicKeysFile)
	code, out, errs := runCLI(t, "audit", "verify", "--archive", archive, "--public-key", pub)
	if code != 0 || !strings.HasPrefix(out, "OK: ") || !strings.Contains(out, "6 records") {
		t.Fatalf("verify archive: code %d, out %q, err %q", code, out, errs)
	}
	if code, _, _ := runCLI(t, "audit", "verify", "--archive", archive); code != ExitUsage {
		t.Fatalf("--archive without --public-key: code %d", code)
	}
	// The same archive to stdout.
	if code, out, _ := runCLI(t, "audit", "export", "--data-dir", dir); code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) < 7 {
		t.Fatalf("export to stdout: code %d, %q", code, out)
	}

	orig, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(orig), "\n"), "\n")
	for _, tc := range []struct {
		name, kind string
		change     func([]string) []string
	}{
		{"edit", "edited", func(l []string) []string { l[1] = strings.Replace(l[1], `"time":"2026`, `"time":"2025`, 1); return l }},
		{"delete", "missing", func(l []string) []string { return append(l[:2:2], l[3:]...) }},
		{"reorder", "reordered", func(l []string) []string { l[1], l[2] = l[2], l[1]; return l }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.jsonl")
			changed := tc.change(append([]string(nil), lines...))
			if err := os.WriteFile(bad, []byte(strings.Join(changed, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, _ := runCLI(t, "audit", "verify", "--archive", bad, "--public-key", pub)
			if code != ExitError || !strings.Contains(out, "FAILED") || (tc.kind != "" && !strings.Contains(out, tc.kind)) {
				t.Fatalf("code %d, out %q", code, out)
			}
		})
	}
}
