package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// openTrail opens the sqlite sink in a fresh data directory.
func openTrail(t testing.TB, dir string, cfg audit.Config) *audit.Trail {
	t.Helper()
	tr, err := audit.OpenSQLite(cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// records reads every record of the trail in dir.
func records(t testing.TB, dir string) []map[string]any {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []map[string]any
	err = db.ScanAudit(context.Background(), store.AuditFilter{}, func(e *store.AuditEntry) error {
		var m map[string]any
		if err := json.Unmarshal(e.Body, &m); err != nil {
			return fmt.Errorf("record %d: %w", e.Seq, err)
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verify runs audit.Verify on the trail in dir with the data dir's keys.
func verify(t testing.TB, dir string) *audit.Report {
	t.Helper()
	keys, err := audit.LoadPublicKeys(filepath.Join(dir, audit.PublicKeysFile))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := audit.Verify(context.Background(), db, keys)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

const fieldPolicies = `
@id("read") permit(principal, action == Action::"fs/read", resource);
@id("pay") permit(principal, action == Action::"bank/pay", resource);
@id("approve-pay") @approval("payments need a human") forbid(principal, action == Action::"bank/pay", resource);
@id("delete") permit(principal, action == Action::"fs/delete", resource);
@id("no-delete") @reason("deleting files is not allowed") forbid(principal, action == Action::"fs/delete", resource);
`

type minter struct{}

func (minter) Mint(_ context.Context, c *call.Call, _ *call.Decision) (*call.Credential, error) {
	return &call.Credential{ID: "jti-" + c.ID, Token: "t", Expires: time.Now().Add(time.Minute)}, nil
}

// approver approves every ask (stands in for a human; the approval stage is
// another issue's work).
type approver struct{}

func (approver) Await(_ context.Context, _ *call.Call, d call.Decision) (call.Decision, error) {
	d.Effect, d.Stage = call.Allow, enforce.StageApprove
	return d, nil
}

type failIdentify struct{}

func (failIdentify) Identify(context.Context, *call.Call) error {
	return enforce.Errorf("identity.invalid_token", "the token has expired")
}

func newFieldCall(tool string) *call.Call {
	server, name, _ := strings.Cut(tool, "/")
	return &call.Call{
		Principal: call.Principal{Kind: call.KindAgent, ID: "agent-7", Groups: []string{"devops"}, Owner: "alice"},
		Chain:     []string{"agent-7", "planner"},
		Task:      &call.Task{ID: "task-42", Purpose: "rotate the logs", Depth: 1},
		Server:    call.Server{Name: server},
		Tool:      call.Tool{Name: name},
		Input:     json.RawMessage(`{"path": "/var/log/app.log", "amount": 12}`),
	}
}

// TestRecordFields drives the real pipeline into the real trail and checks
// every field of the records of allowed, denied, asked and failed calls.
func TestRecordFields(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, audit.Config{})
	set, err := policy.NewSet("org", []policy.Source{{Name: "p.cedar", Text: []byte(fieldPolicies)}})
	if err != nil {
		t.Fatal(err)
	}
	eng := policy.NewStaticEngine(set)
	newPipe := func(mod func(*enforce.Config)) *enforce.Pipeline {
		cfg := enforce.Config{Policies: eng, Audit: tr, Mint: minter{}}
		if mod != nil {
			mod(&cfg)
		}
		p, err := enforce.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	result := []byte(`{"content":[{"type":"text","text":"done"}]}`)
	fwd := func(status call.OutcomeStatus, errText string) enforce.Forward {
		return func(context.Context, *call.Call, *call.Credential) call.Outcome {
			return call.Outcome{Status: status, Result: result, Duration: 3 * time.Millisecond, Error: errText}
		}
	}

	allowed := newFieldCall("fs/read")
	if d := newPipe(nil).Execute(ctx, allowed, fwd(call.OutcomeOK, "")); d.Effect != call.Allow {
		t.Fatalf("allowed: %+v", d)
	}
	denied := newFieldCall("fs/delete")
	if d := newPipe(nil).Execute(ctx, denied, fwd(call.OutcomeOK, "")); d.Effect != call.Deny {
		t.Fatalf("denied: %+v", d)
	}
	asked := newFieldCall("bank/pay") // Decide (AuthZEN): the ask is recorded as is
	if d := newPipe(nil).Decide(ctx, asked); d.Effect != call.Ask {
		t.Fatalf("asked: %+v", d)
	}
	approved := newFieldCall("bank/pay")
	if d := newPipe(func(c *enforce.Config) { c.Approve = approver{} }).Execute(ctx, approved, fwd(call.OutcomeToolError, "insufficient funds")); d.Effect != call.Allow {
		t.Fatalf("approved: %+v", d)
	}
	failedStage := newFieldCall("fs/read")
	if d := newPipe(func(c *enforce.Config) { c.Identify = failIdentify{} }).Execute(ctx, failedStage, fwd(call.OutcomeOK, "")); d.Effect != call.Deny {
		t.Fatalf("failed stage: %+v", d)
	}
	failedUpstream := newFieldCall("fs/read")
	newPipe(nil).Execute(ctx, failedUpstream, fwd(call.OutcomeUpstreamFailure, "connection refused"))
	timedOut := newFieldCall("fs/read")
	newPipe(nil).Execute(ctx, timedOut, fwd(call.OutcomeTimeout, "no answer in 30s"))
	human := newFieldCall("fs/read")
	human.Principal = call.Principal{Kind: call.KindUser, ID: "bob"}
	human.Chain, human.Task = nil, nil
	newPipe(nil).Execute(ctx, human, fwd(call.OutcomeOK, ""))
	// The approval stage (another issue) will fill Approval; the trail
	// must carry it.
	withApproval := audit.NewRecord(approved, &call.Decision{ID: "approval-1", Effect: call.Allow, Stage: "approve", Policies: []string{"approve-pay"}}, nil)
	withApproval.Approval = &audit.Approval{Approver: "carol", Time: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), Comment: "ok for this payee", WaitedMS: 1500}
	if err := tr.WriteDecision(ctx, withApproval); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	recs := records(t, dir)
	byID := map[string][]map[string]any{}
	for i, r := range recs {
		if got := r["seq"]; got != float64(i+1) {
			t.Fatalf("record %d has seq %v", i+1, got)
		}
		if _, ok := r["prev_hash"].(string); !ok {
			t.Fatalf("record %d has no prev_hash", i+1)
		}
		id, _ := r["decision_id"].(string)
		byID[id] = append(byID[id], r)
	}
	decision := func(c *call.Call) map[string]any {
		t.Helper()
		rs := byID[c.ID]
		if len(rs) == 0 || rs[0]["type"] != "decision" {
			t.Fatalf("no decision record for %s", c.ID)
		}
		return rs[0]
	}
	outcome := func(c *call.Call) map[string]any {
		t.Helper()
		rs := byID[c.ID]
		if len(rs) != 2 || rs[1]["type"] != "outcome" {
			t.Fatalf("no outcome record for %s: %v", c.ID, rs)
		}
		return rs[1]
	}
	noOutcome := func(c *call.Call) {
		t.Helper()
		if n := len(byID[c.ID]); n != 1 {
			t.Fatalf("%s: %d records, want the decision only", c.ID, n)
		}
	}
	want := func(name string, r map[string]any, key string, v any) {
		t.Helper()
		got, _ := json.Marshal(r[key])
		exp, _ := json.Marshal(v)
		if !bytes.Equal(got, exp) {
			t.Errorf("%s: %s = %s, want %s", name, key, got, exp)
		}
	}
	common := func(name string, c *call.Call, r map[string]any) {
		t.Helper()
		want(name, r, "decision_id", c.ID)
		if ts, err := time.Parse(time.RFC3339Nano, r["time"].(string)); err != nil || !ts.Equal(c.Time) {
			t.Errorf("%s: time %v, want %v", name, r["time"], c.Time)
		}
		want(name, r, "actor_type", "sub-agent")
		want(name, r, "principal", map[string]any{"kind": "agent", "id": "agent-7", "groups": []string{"devops"}})
		want(name, r, "on_behalf_of", "alice")
		want(name, r, "chain", []string{"agent-7", "planner"})
		want(name, r, "task_id", "task-42")
		want(name, r, "purpose", "rotate the logs")
		want(name, r, "server", c.Server.Name)
		want(name, r, "tool", c.Tool.Name)
		want(name, r, "arguments", map[string]any{"path": "/var/log/app.log", "amount": 12})
	}

	r := decision(allowed)
	common("allowed", allowed, r)
	want("allowed", r, "effect", "allow")
	want("allowed", r, "stage", "decide")
	want("allowed", r, "policies", []string{"read"})
	want("allowed", r, "policy_version", set.Version)
	want("allowed", r, "credential_id", "jti-"+allowed.ID)
	o := outcome(allowed)
	want("allowed outcome", o, "status", "ok")
	want("allowed outcome", o, "result_sha256", sha(result))
	want("allowed outcome", o, "duration_ms", 3)

	r = decision(denied)
	common("denied", denied, r)
	want("denied", r, "effect", "deny")
	want("denied", r, "policies", []string{"no-delete"})
	if rs, _ := json.Marshal(r["reasons"]); !strings.Contains(string(rs), "deleting files is not allowed") {
		t.Errorf("denied: reasons %s", rs)
	}
	want("denied", r, "credential_id", nil)
	noOutcome(denied)

	r = decision(asked)
	common("asked", asked, r)
	want("asked", r, "effect", "ask")
	want("asked", r, "policies", []string{"approve-pay"})
	if rs, _ := json.Marshal(r["reasons"]); !strings.Contains(string(rs), `"kind":"approval"`) {
		t.Errorf("asked: reasons %s", rs)
	}
	noOutcome(asked)

	r = decision(approved)
	common("approved", approved, r)
	want("approved", r, "effect", "allow")
	want("approved", r, "stage", "approve")
	want("approved", r, "credential_id", "jti-"+approved.ID)
	o = outcome(approved)
	want("approved outcome", o, "status", "tool_error")
	want("approved outcome", o, "error", "insufficient funds")

	r = decision(failedStage)
	want("failed stage", r, "effect", "deny")
	want("failed stage", r, "stage", "identify")
	want("failed stage", r, "reasons", []map[string]any{{"kind": "error", "code": "identity.invalid_token", "message": "the token has expired"}})
	noOutcome(failedStage)

	want("upstream failure", outcome(failedUpstream), "status", "upstream_failure")
	want("upstream failure", outcome(failedUpstream), "error", "connection refused")
	want("timeout", outcome(timedOut), "status", "timeout")

	r = decision(human)
	want("human", r, "actor_type", "human")
	want("human", r, "principal", map[string]any{"kind": "user", "id": "bob"})

	r = byID["approval-1"][0]
	want("approval", r, "approval", map[string]any{"approver": "carol", "time": "2026-11-02T10:00:00Z", "comment": "ok for this payee", "waited_ms": 1500})

	if rep := verify(t, dir); !rep.OK || rep.Unsigned != 0 {
		t.Fatalf("verify: %+v", rep)
	}
}

// TestRedactionKeepsCallIntact: the record is redacted, the call's own
// arguments (what the engine and the upstream see) are not.
func TestRedactionKeepsCallIntact(t *testing.T) {
	dir := t.TempDir()
	cfg := audit.Config{Redact: audit.RedactConfig{Arguments: map[string][]string{
		"db/connect": {"auth.token", "hosts.password", "options.*.secret"},
	}}}
	tr := openTrail(t, dir, cfg)
	in := `{"auth":{"token":"tok-123","user":"app"},"hosts":[{"name":"a","password":"pw1"},{"name":"b","password":"pw1"}],` +
		`"options":{"x":{"secret":{"deep":[1,2]}},"y":{"secret":"s2"}},"note":"curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345' https://u:hunter22@db.example/"}`
	c := newFieldCall("db/connect")
	c.ID, c.Time, c.Input = "d1", time.Now(), json.RawMessage(in)
	rec := audit.NewRecord(c, &call.Decision{ID: "d1", Effect: call.Allow, Policies: []string{}}, nil)
	if err := tr.WriteDecision(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if string(c.Input) != in || string(rec.Arguments) != in {
		t.Fatal("redaction changed the call's arguments")
	}
	args, _ := json.Marshal(records(t, dir)[0]["arguments"])
	for _, secret := range []string{"tok-123", "pw1", "deep", "s2", "abcdefghijklmnopqrstuvwxyz012345", "hunter22"} {
		if bytes.Contains(args, []byte(secret)) {
			t.Errorf("%q is in the record: %s", secret, args)
		}
	}
	for _, kept := range []string{`"user":"app"`, `"name":"a"`, `"name":"b"`, "https://u:", "@db.example/", "Bearer [redacted:"} {
		if !bytes.Contains(args, []byte(kept)) {
			t.Errorf("%q is not in the record: %s", kept, args)
		}
	}
	// Equal secrets give equal tokens: both hosts' passwords are "pw1".
	var got struct {
		Hosts []struct{ Password string } `json:"hosts"`
	}
	json.Unmarshal(args, &got)
	if len(got.Hosts) != 2 || got.Hosts[0].Password != got.Hosts[1].Password || !strings.HasPrefix(got.Hosts[0].Password, audit.RedactedPrefix) {
		t.Fatalf("hosts: %+v", got.Hosts)
	}
}

// TestConcurrentWritesChain: many writers at once, group-committed, give
// one unbroken chain with every acknowledged record in it.
func TestConcurrentWritesChain(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, audit.Config{Checkpoint: audit.CheckpointConfig{Records: 100}})
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				c := newFieldCall("fs/read")
				c.ID, c.Time = fmt.Sprintf("w%d-%d", w, i), time.Now()
				if err := tr.WriteDecision(context.Background(), audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: call.Allow, Policies: []string{}}, nil)); err != nil {
					t.Error(err)
					return
				}
				tr.WriteOutcome(context.Background(), &audit.OutcomeRecord{DecisionID: c.ID, Time: time.Now(), Status: call.OutcomeOK})
			}
		}()
	}
	wg.Wait()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	rep := verify(t, dir)
	if !rep.OK || rep.Records != 3200 || rep.Unsigned != 0 || rep.Checkpoints < 2 {
		t.Fatalf("verify: %+v", rep)
	}
}

// TestOutcomeSharesDecisionCommit: an outcome record waits briefly for a
// decision to share its commit, but never for one that does not come: it is
// committed on its own soon after, without Close.
func TestOutcomeSharesDecisionCommit(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, audit.Config{})
	defer tr.Close()
	write := func(id string) {
		c := newFieldCall("fs/read")
		c.ID, c.Time = id, time.Now()
		if err := tr.WriteDecision(context.Background(), audit.NewRecord(c, &call.Decision{ID: id, Effect: call.Allow, Policies: []string{}}, nil)); err != nil {
			t.Fatal(err)
		}
		if err := tr.WriteOutcome(context.Background(), &audit.OutcomeRecord{DecisionID: id, Time: time.Now(), Status: call.OutcomeOK}); err != nil {
			t.Fatal(err)
		}
	}
	write("d1")
	write("d2") // d1's outcome is committed by now, with d2's decision at the latest
	kinds := func() []string {
		var ks []string
		for _, r := range records(t, dir) {
			ks = append(ks, fmt.Sprint(r["type"], ":", r["decision_id"]))
		}
		return ks
	}
	if got := kinds(); len(got) < 3 || got[2] != "decision:d2" || got[1] != "outcome:d1" {
		t.Fatalf("records after two calls: %v", got)
	}
	// d2's outcome has no decision to wait for; it is committed alone.
	deadline := time.Now().Add(10 * time.Second)
	for len(kinds()) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the last outcome was not committed without a following decision: %v", kinds())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFailClosed: when the store cannot write, WriteDecision fails (so the
// pipeline denies) and Healthy says why; once it can, both recover.
func TestFailClosed(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := audit.LoadOrCreateRedactionKey(dir)
	red, _ := audit.NewRedactor(audit.RedactConfig{}, key)
	sig, _ := audit.LoadOrCreateSigningKey(dir)
	fs := &failingStore{AuditLog: db}
	tr, err := audit.NewTrail(fs, audit.TrailOptions{Redactor: red, SigningKey: sig})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rec := func(id string) *audit.Record {
		c := newFieldCall("fs/read")
		c.ID, c.Time = id, time.Now()
		return audit.NewRecord(c, &call.Decision{ID: id, Effect: call.Allow, Policies: []string{}}, nil)
	}
	if err := tr.WriteDecision(context.Background(), rec("a")); err != nil || tr.Healthy() != nil {
		t.Fatal(err, tr.Healthy())
	}
	fs.setFail(true)
	if err := tr.WriteDecision(context.Background(), rec("b")); err == nil {
		t.Fatal("WriteDecision succeeded on a broken store")
	}
	if h := tr.Healthy(); h == nil || !strings.Contains(h.Error(), "cannot be written") {
		t.Fatalf("Healthy: %v", h)
	}
	fs.setFail(false)
	if err := tr.WriteDecision(context.Background(), rec("c")); err != nil || tr.Healthy() != nil {
		t.Fatal(err, tr.Healthy())
	}
	// And through the pipeline: the call is denied, naming the audit stage.
	set, _ := policy.NewSet("org", []policy.Source{{Name: "p.cedar", Text: []byte(fieldPolicies)}})
	p, _ := enforce.New(enforce.Config{Policies: policy.NewStaticEngine(set), Audit: tr})
	fs.setFail(true)
	ran := false
	d := p.Execute(context.Background(), newFieldCall("fs/read"), func(context.Context, *call.Call, *call.Credential) call.Outcome {
		ran = true
		return call.Outcome{Status: call.OutcomeOK}
	})
	if ran || d.Effect != call.Deny || d.Stage != enforce.StageAudit {
		t.Fatalf("ran=%v %+v", ran, d)
	}
}

// failingStore wraps the real store and fails appends on demand, the way a
// full disk or a lost volume does (this cannot be made to happen for real to
// root in a temporary directory).
type failingStore struct {
	store.AuditLog
	mu   sync.Mutex
	fail bool
}

func (f *failingStore) setFail(b bool) { f.mu.Lock(); f.fail = b; f.mu.Unlock() }

func (f *failingStore) AppendAudit(ctx context.Context, build func(store.AuditHead) (store.AuditBatch, error)) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("disk I/O error")
	}
	return f.AuditLog.AppendAudit(ctx, build)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
