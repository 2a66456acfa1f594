package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// otlpReceiver is an OTLP/HTTP logs endpoint built on the OpenTelemetry
// Collector's own protobuf types (pdata), as the Collector's OTLP receiver
// decodes requests. It fails the first failFirst requests with 503.
type otlpReceiver struct {
	mu        sync.Mutex
	failFirst int
	requests  int
	bySeq     map[int64]plog.LogRecord
	bodies    map[int64]string
	t         *testing.T
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if req.Method != http.MethodPost || req.URL.Path != "/v1/logs" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		r.t.Errorf("bad request: %s %s %s", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if r.requests <= r.failFirst {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	b, _ := io.ReadAll(req.Body)
	er := plogotlp.NewExportRequest()
	if err := er.UnmarshalProto(b); err != nil {
		r.t.Errorf("undecodable OTLP request: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rls := er.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		if v, _ := rl.Resource().Attributes().Get("service.name"); v.Str() != "toolgate" {
			r.t.Errorf("service.name = %q", v.Str())
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := plog.NewLogRecord()
				lrs.At(k).CopyTo(lr)
				seq, _ := lr.Attributes().Get("toolgate.audit.seq")
				r.bySeq[seq.Int()] = lr
				r.bodies[seq.Int()] = lr.Body().Str()
			}
		}
	}
	resp, _ := plogotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(resp)
}

func (r *otlpReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bySeq)
}

// TestOTLPExport ships the trail to a real OTLP/HTTP receiver that is down
// at first: every record arrives once it is up, in the Collector's types,
// with its exact bytes as body and the decision as attributes.
func TestOTLPExport(t *testing.T) {
	rcv := &otlpReceiver{failFirst: 2, bySeq: map[int64]plog.LogRecord{}, bodies: map[int64]string{}, t: t}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	cfg := audit.Config{Export: audit.ExportConfig{OTLP: &audit.OTLPConfig{Endpoint: srv.URL, Poll: 10 * time.Millisecond, Batch: 3}}}
	tr := openTrail(t, dir, cfg)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		c := newFieldCall("fs/read")
		c.ID, c.Time = fmt.Sprintf("d%d", i), time.Now()
		eff := call.Allow
		if i == 3 {
			eff = call.Deny
		}
		if err := tr.WriteDecision(ctx, audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: eff, Policies: []string{"read"}, PolicyVersion: "v1"}, &call.Credential{ID: "jti-" + c.ID})); err != nil {
			t.Fatal(err)
		}
		if eff == call.Allow {
			tr.WriteOutcome(ctx, &audit.OutcomeRecord{DecisionID: c.ID, Time: time.Now(), Status: call.OutcomeOK, ResultSHA256: "ab", DurationMS: 2.5})
		}
	}
	const total = 9 // 5 decisions, 4 outcomes
	db, _ := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
	defer db.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, _ := db.AuditCursor(ctx, audit.OTLPExporterName); c == total {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rcv.count(); n != total {
		t.Fatalf("the receiver has %d of %d records", n, total)
	}

	// The bodies are the stored records, so the chain checks out from the
	// export alone.
	prev := audit.GenesisHash
	for seq := int64(1); seq <= total; seq++ {
		body := rcv.bodies[seq]
		var h struct {
			PrevHash string `json:"prev_hash"`
		}
		if err := json.Unmarshal([]byte(body), &h); err != nil || h.PrevHash != prev {
			t.Fatalf("record %d does not chain: %v %q", seq, err, body)
		}
		prev = audit.HashOf([]byte(body)).String()
	}
	var decision, denied, outcome plog.LogRecord
	found := 0
	for _, lr := range rcv.bySeq {
		id, _ := lr.Attributes().Get("toolgate.decision_id")
		switch {
		case lr.EventName() == "toolgate.audit.decision" && id.Str() == "d0":
			decision, found = lr, found+1
		case lr.EventName() == "toolgate.audit.decision" && id.Str() == "d3":
			denied, found = lr, found+1
		case lr.EventName() == "toolgate.audit.outcome" && id.Str() == "d0":
			outcome, found = lr, found+1
		}
	}
	if found != 3 {
		t.Fatalf("found %d of the expected log records", found)
	}
	attr := func(lr plog.LogRecord, k string) string {
		v, ok := lr.Attributes().Get(k)
		if !ok {
			return "<none>"
		}
		return v.AsString()
	}
	for k, want := range map[string]string{
		"gen_ai.operation.name":    "execute_tool",
		"gen_ai.tool.name":         "read",
		"gen_ai.agent.id":          "agent-7",
		"mcp.method.name":          "tools/call",
		"enduser.id":               "alice",
		"toolgate.server":          "fs",
		"toolgate.effect":          "allow",
		"toolgate.actor_type":      "sub-agent",
		"toolgate.task.id":         "task-42",
		"toolgate.policies":        `["read"]`,
		"toolgate.policy_version":  "v1",
		"toolgate.credential_id":   "jti-d0",
		"toolgate.chain":           `["agent-7","planner"]`,
		"toolgate.audit.prev_hash": audit.GenesisHash,
	} {
		if got := attr(decision, k); got != want {
			t.Errorf("decision %s = %q, want %q", k, got, want)
		}
	}
	if decision.Timestamp() == 0 || decision.SeverityText() != "INFO" {
		t.Errorf("decision: timestamp %v severity %q", decision.Timestamp(), decision.SeverityText())
	}
	if attr(denied, "toolgate.effect") != "deny" || denied.SeverityText() != "WARN" {
		t.Errorf("denied: %q %q", attr(denied, "toolgate.effect"), denied.SeverityText())
	}
	for k, want := range map[string]string{"toolgate.outcome.status": "ok", "toolgate.outcome.result_sha256": "ab", "toolgate.outcome.duration_ms": "2.5"} {
		if got := attr(outcome, k); got != want {
			t.Errorf("outcome %s = %q, want %q", k, got, want)
		}
	}
	// The cursor is kept in the store: a restarted exporter resumes there.
	if c, err := db.AuditCursor(ctx, audit.OTLPExporterName); err != nil || c != total {
		t.Fatalf("cursor %d, %v", c, err)
	}
	if rcv.requests <= rcv.failFirst {
		t.Fatal("the receiver's failures were not retried")
	}
}
