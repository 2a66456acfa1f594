package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/toolgate/toolgate/internal/store"
)

// NewOTLPTracesExporter ships a span per call to an OTLP/HTTP receiver:
// "execute_tool <tool>" from the decision to the outcome, with the decision
// and the outcome as attributes (the GenAI and MCP conventions where they
// have a name). A call that did not run (denied, or an ask not approved)
// is a span of no duration with status Error and the reason. The trace id is
// the decision id (a UUID), so the span can be found from the audit record.
//
// A span is sent once its call has ended. An allowed call whose outcome is
// not in the trail yet waits in memory (bounded); after a restart of the
// exporter such an outcome gives a span without the decision's attributes
// (it names the decision id).
func NewOTLPTracesExporter(log store.AuditLog, cfg OTLPConfig, logger *slog.Logger) (*Exporter, error) {
	if logger == nil {
		logger = slog.Default()
	}
	post, err := otlpPoster(cfg, "/v1/traces")
	if err != nil {
		return nil, err
	}
	b := &spanBuilder{open: map[string]openCall{}}
	ship := func(ctx context.Context, entries []*store.AuditEntry) error {
		traces, commit := b.build(entries)
		if traces.SpanCount() > 0 {
			body, err := ptraceotlp.NewExportRequestFromTraces(traces).MarshalProto()
			if err != nil {
				return fmt.Errorf("encode OTLP request: %w", err)
			}
			rb, err := post(ctx, body)
			if err != nil {
				return err
			}
			er := ptraceotlp.NewExportResponse()
			if err := er.UnmarshalProto(rb); err == nil {
				if ps := er.PartialSuccess(); ps.RejectedSpans() > 0 {
					logger.Warn("audit: the OTLP receiver rejected spans", "count", ps.RejectedSpans(), "message", ps.ErrorMessage())
				}
			}
		}
		// Only once the batch is accepted does the builder forget the calls
		// it ended: a failed send is built again from the same records.
		commit()
		return nil
	}
	return NewExporter(OTLPTracesExporterName, log, cfg.Batch, cfg.Poll, logger, ship), nil
}

// maxOpenCalls bounds the allowed calls waiting for their outcome. Beyond
// it the oldest are sent without one.
const maxOpenCalls = 10000

// openCall is an allowed call whose outcome has not been seen.
type openCall struct {
	view otlpView
	seq  uint64
	at   time.Time
}

// spanBuilder turns records into spans, keeping allowed calls open until
// their outcome.
type spanBuilder struct {
	open map[string]openCall
}

// build returns the spans of the calls that end in entries, and the change
// to the open calls to apply once they are sent.
func (b *spanBuilder) build(entries []*store.AuditEntry) (ptrace.Traces, func()) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "toolgate")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/toolgate/toolgate/internal/audit")

	opened := map[string]openCall{}
	closed := map[string]bool{}
	lookup := func(id string) (openCall, bool) {
		if oc, ok := opened[id]; ok {
			return oc, true
		}
		if closed[id] {
			return openCall{}, false
		}
		oc, ok := b.open[id]
		return oc, ok
	}
	for _, e := range entries {
		var v otlpView
		if json.Unmarshal(e.Body, &v) != nil || e.DecisionID == "" {
			continue
		}
		switch e.Kind {
		case "decision":
			if v.Effect == "allow" {
				opened[e.DecisionID] = openCall{view: v, seq: e.Seq, at: e.Time}
				continue
			}
			sp := ss.Spans().AppendEmpty()
			decisionSpan(sp, e.DecisionID, &v, e.Seq, e.Time, e.Time)
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage(v.reasonText())
		case "outcome":
			sp := ss.Spans().AppendEmpty()
			if oc, ok := lookup(e.DecisionID); ok {
				decisionSpan(sp, e.DecisionID, &oc.view, oc.seq, oc.at, e.Time)
				delete(opened, e.DecisionID)
				closed[e.DecisionID] = true
			} else {
				start := e.Time.Add(-time.Duration(v.DurationMS * float64(time.Millisecond)))
				baseSpan(sp, e.DecisionID, "execute_tool", start, e.Time)
				sp.Attributes().PutStr("toolgate.decision_id", e.DecisionID)
			}
			putOutcome(sp.Attributes(), &v)
			sp.Attributes().PutInt("toolgate.audit.outcome_seq", int64(e.Seq))
			if v.Status == "ok" {
				sp.Status().SetCode(ptrace.StatusCodeOk)
			} else {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage(strings.TrimSpace(v.Status + " " + v.Error))
			}
		}
	}
	// Over the bound, the oldest open calls go out without an outcome.
	evict := map[string]bool{}
	if over := len(b.open) + len(opened) - maxOpenCalls; over > 0 {
		for _, id := range oldestOpen(b.open, opened, closed, over) {
			oc, _ := lookup(id)
			sp := ss.Spans().AppendEmpty()
			decisionSpan(sp, id, &oc.view, oc.seq, oc.at, oc.at)
			sp.Attributes().PutStr("toolgate.outcome.status", "unknown")
			evict[id] = true
		}
	}
	return td, func() {
		for id := range closed {
			delete(b.open, id)
		}
		for id, oc := range opened {
			b.open[id] = oc
		}
		for id := range evict {
			delete(b.open, id)
		}
	}
}

// oldestOpen picks the n open calls with the lowest sequence numbers.
func oldestOpen(old, opened map[string]openCall, closed map[string]bool, n int) []string {
	type seqID struct {
		seq uint64
		id  string
	}
	var all []seqID
	for id, oc := range old {
		if !closed[id] {
			all = append(all, seqID{oc.seq, id})
		}
	}
	for id, oc := range opened {
		all = append(all, seqID{oc.seq, id})
	}
	if n > len(all) {
		n = len(all)
	}
	// Partial selection is not worth it for a rare overflow: sort.
	for i := 0; i < n; i++ {
		lo := i
		for j := i + 1; j < len(all); j++ {
			if all[j].seq < all[lo].seq {
				lo = j
			}
		}
		all[i], all[lo] = all[lo], all[i]
	}
	out := make([]string, n)
	for i := range out {
		out[i] = all[i].id
	}
	return out
}

// decisionSpan fills a span from a decision record.
func decisionSpan(sp ptrace.Span, id string, v *otlpView, seq uint64, start, end time.Time) {
	name := "execute_tool"
	if v.Tool != "" {
		name += " " + v.Tool
	}
	baseSpan(sp, id, name, start, end)
	a := sp.Attributes()
	a.PutStr("toolgate.decision_id", id)
	a.PutInt("toolgate.audit.seq", int64(seq))
	putDecision(a, v)
}

func baseSpan(sp ptrace.Span, id, name string, start, end time.Time) {
	sp.SetName(name)
	sp.SetKind(ptrace.SpanKindInternal)
	sp.SetTraceID(traceID(id))
	sp.SetSpanID(spanID(id))
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
}

// traceID is the decision id's 16 bytes when it is a UUID (toolgate's are),
// else the first 16 bytes of its SHA-256.
func traceID(id string) pcommon.TraceID {
	if u, err := uuid.Parse(id); err == nil {
		return pcommon.TraceID(u)
	}
	sum := sha256.Sum256([]byte(id))
	var t pcommon.TraceID
	copy(t[:], sum[:16])
	return t
}

func spanID(id string) pcommon.SpanID {
	sum := sha256.Sum256([]byte("span:" + id))
	var s pcommon.SpanID
	copy(s[:], sum[:8])
	return s
}

// TraceIDOf is the trace id the traces exporter gives a call's span, in the
// hex form tracing tools show.
func TraceIDOf(decisionID string) string {
	t := traceID(decisionID)
	return hex.EncodeToString(t[:])
}
