package audit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// spanReceiver is an OTLP/HTTP traces endpoint on the Collector's pdata
// types; it fails the first failFirst requests with 503.
type spanReceiver struct {
	mu        sync.Mutex
	failFirst int
	requests  int
	spans     map[string]ptrace.Span // by decision id
	t         *testing.T
}

func (r *spanReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.URL.Path == "/v1/logs" {
		// Logs go to the same receiver (both signals are configured);
		// TestOTLPExport checks them.
		resp, _ := plogotlp.NewExportResponse().MarshalProto()
		w.Write(resp)
		return
	}
	r.requests++
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		r.t.Errorf("bad request: %s %s %s", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if r.requests <= r.failFirst {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	b, _ := io.ReadAll(req.Body)
	er := ptraceotlp.NewExportRequest()
	if err := er.UnmarshalProto(b); err != nil {
		r.t.Errorf("undecodable OTLP request: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rss := er.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			sps := sss.At(j).Spans()
			for k := 0; k < sps.Len(); k++ {
				sp := ptrace.NewSpan()
				sps.At(k).CopyTo(sp)
				id, _ := sp.Attributes().Get("toolgate.decision_id")
				if _, dup := r.spans[id.Str()]; dup {
					r.t.Errorf("two spans for decision %s", id.Str())
				}
				r.spans[id.Str()] = sp
			}
		}
	}
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(resp)
}

// TestOTLPTracesExport: every call becomes one span, from its decision to
// its outcome, once the receiver is up; a denied call is a span with status
// Error and the reason; the trace id is the decision id.
func TestOTLPTracesExport(t *testing.T) {
	rcv := &spanReceiver{failFirst: 2, spans: map[string]ptrace.Span{}, t: t}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	cfg := audit.Config{Export: audit.ExportConfig{OTLP: &audit.OTLPConfig{Endpoint: srv.URL, Signals: []string{"logs", "traces"}, Poll: 10 * time.Millisecond, Batch: 3}}}
	tr := openTrail(t, dir, cfg)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		c := newFieldCall("fs/read")
		c.ID, c.Time = uuid.Must(uuid.NewV7()).String(), time.Now()
		ids = append(ids, c.ID)
		d := &call.Decision{ID: c.ID, Effect: call.Allow, Policies: []string{"read"}, PolicyVersion: "v1"}
		if i == 3 {
			d.Effect, d.Reasons = call.Deny, []call.Reason{{Kind: call.ReasonForbid, Message: "not on Sundays"}}
		}
		if err := tr.WriteDecision(ctx, audit.NewRecord(c, d, nil)); err != nil {
			t.Fatal(err)
		}
		if d.Effect == call.Allow {
			status := call.OutcomeOK
			if i == 4 {
				status = call.OutcomeToolError
			}
			if err := tr.WriteOutcome(ctx, &audit.OutcomeRecord{DecisionID: c.ID, Time: c.Time.Add(3 * time.Millisecond), Status: status, DurationMS: 3}); err != nil {
				t.Fatal(err)
			}
		}
	}
	const total = 9
	db, _ := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
	defer db.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		cl, _ := db.AuditCursor(ctx, audit.OTLPExporterName)
		ct, _ := db.AuditCursor(ctx, audit.OTLPTracesExporterName)
		if cl == total && ct == total {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.spans) != 5 {
		t.Fatalf("%d spans, want one per call (5)", len(rcv.spans))
	}
	for i, id := range ids {
		sp, ok := rcv.spans[id]
		if !ok {
			t.Fatalf("no span for call %d", i)
		}
		if got := sp.TraceID().String(); got != audit.TraceIDOf(id) || got != uuidHex(id) {
			t.Errorf("call %d: trace id %s, want the decision id %s", i, got, id)
		}
		if sp.Name() != "execute_tool read" {
			t.Errorf("span name %q", sp.Name())
		}
		tool, _ := sp.Attributes().Get("gen_ai.tool.name")
		op, _ := sp.Attributes().Get("gen_ai.operation.name")
		if tool.Str() != "read" || op.Str() != "execute_tool" {
			t.Errorf("attributes %v", sp.Attributes().AsRaw())
		}
		dur := sp.EndTimestamp().AsTime().Sub(sp.StartTimestamp().AsTime())
		switch i {
		case 3:
			if sp.Status().Code() != ptrace.StatusCodeError || sp.Status().Message() != "not on Sundays" || dur != 0 {
				t.Errorf("denied call: status %v %q, duration %v", sp.Status().Code(), sp.Status().Message(), dur)
			}
		case 4:
			if sp.Status().Code() != ptrace.StatusCodeError || dur != 3*time.Millisecond {
				t.Errorf("failed call: status %v, duration %v", sp.Status().Code(), dur)
			}
		default:
			st, _ := sp.Attributes().Get("toolgate.outcome.status")
			if sp.Status().Code() != ptrace.StatusCodeOk || dur != 3*time.Millisecond || st.Str() != "ok" {
				t.Errorf("call %d: status %v, duration %v, outcome %q", i, sp.Status().Code(), dur, st.Str())
			}
		}
	}
}

func uuidHex(id string) string {
	u := uuid.MustParse(id)
	const hexd = "0123456789abcdef"
	out := make([]byte, 32)
	for i, b := range u {
		out[2*i], out[2*i+1] = hexd[b>>4], hexd[b&15]
	}
	return string(out)
}
