package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/toolgate/toolgate/internal/redirect"
	"github.com/toolgate/toolgate/internal/store"
)

// An Exporter ships the trail to somewhere else. It follows the store, not
// the writes: it reads the records after its cursor (kept in the store),
// ships them in order, and moves the cursor only once they were accepted. A
// failing destination therefore loses nothing: the records stay in the store
// and are shipped again, with backoff, until they are accepted (at least
// once; a receiver deduplicates by toolgate.audit.seq if it must).
type Exporter struct {
	name   string
	log    store.AuditLog
	ship   func(ctx context.Context, entries []*store.AuditEntry) error
	batch  int
	poll   time.Duration
	logger *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// NewExporter starts an exporter named name (its cursor's name).
func NewExporter(name string, log store.AuditLog, batch int, poll time.Duration, logger *slog.Logger,
	ship func(ctx context.Context, entries []*store.AuditEntry) error) *Exporter {
	if batch <= 0 {
		batch = 512
	}
	if poll <= 0 {
		poll = time.Second
	}
	if logger == nil {
		logger = slog.Default() // failures must be seen somewhere
	}
	ctx, cancel := context.WithCancel(context.Background())
	x := &Exporter{name: name, log: log, ship: ship, batch: batch, poll: poll, logger: logger, cancel: cancel, done: make(chan struct{})}
	go x.run(ctx)
	return x
}

// Close stops the exporter; what it has not shipped is shipped after the
// next start.
func (x *Exporter) Close() {
	x.cancel()
	<-x.done
}

func (x *Exporter) run(ctx context.Context) {
	defer close(x.done)
	const maxBackoff = 30 * time.Second
	backoff := time.Duration(0)
	failing := false
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for ctx.Err() == nil {
		err := x.once(ctx)
		switch {
		case errors.Is(err, errNothingNew):
			if !wait(x.poll) {
				return
			}
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			if !failing {
				x.logger.Warn("audit: export failed; the records stay in the trail and are retried", "exporter", x.name, "error", err)
				failing = true
			}
			backoff = min(max(2*backoff, 500*time.Millisecond), maxBackoff)
			if !wait(backoff) {
				return
			}
		default:
			if failing {
				x.logger.Info("audit: export works again", "exporter", x.name)
				failing = false
			}
			backoff = 0
		}
	}
}

var errNothingNew = errors.New("nothing new")

// once ships the next batch after the cursor. On a store that replicas
// share, one replica at a time does it: the others find nothing to do.
func (x *Exporter) once(ctx context.Context) error {
	if ex, ok := x.log.(store.Exclusive); ok {
		var err error
		ran, lerr := ex.Exclusively(ctx, "audit-export/"+x.name, func(ctx context.Context) error {
			err = x.shipNext(ctx)
			return nil // the batch's outcome is err; the lock's is lerr
		})
		switch {
		case lerr != nil:
			return lerr
		case !ran:
			return errNothingNew
		}
		return err
	}
	return x.shipNext(ctx)
}

func (x *Exporter) shipNext(ctx context.Context) error {
	cursor, err := x.log.AuditCursor(ctx, x.name)
	if err != nil {
		return err
	}
	var entries []*store.AuditEntry
	err = x.log.ScanAudit(ctx, store.AuditFilter{AfterSeq: cursor, Limit: x.batch}, func(e *store.AuditEntry) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return errNothingNew
	}
	if err := x.ship(ctx, entries); err != nil {
		return err
	}
	// Shipped: record it even if we are being stopped, or the next start
	// would ship these records again.
	return x.log.SetAuditCursor(context.WithoutCancel(ctx), x.name, entries[len(entries)-1].Seq)
}

// OTLPConfig configures the OTLP/HTTP exporter.
type OTLPConfig struct {
	// Endpoint is the receiver: "http://host:4318" (then /v1/logs or
	// /v1/traces is appended) or a full URL with a path, used as is (with
	// one signal only).
	Endpoint string `yaml:"endpoint"`
	// Signals are what is shipped: "logs" (every record as a log record,
	// its exact bytes as body; the default) and/or "traces" (a span per
	// call, from its decision to its outcome).
	Signals []string `yaml:"signals"`
	// Headers are added to each request (e.g. an authorization header).
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// Batch is the most records per request (default 512).
	Batch int `yaml:"batch"`
	// Poll is how often the trail is checked for new records (default 1s).
	Poll time.Duration `yaml:"poll"`
}

// OTLP signals.
const (
	SignalLogs   = "logs"
	SignalTraces = "traces"
)

// OTLPExporterName and OTLPTracesExporterName are the OTLP exporters'
// cursor names: each signal ships the trail at its own pace.
const (
	OTLPExporterName       = "otlp"
	OTLPTracesExporterName = "otlp-traces"
)

// NewOTLPExporters starts one exporter per configured signal.
func NewOTLPExporters(log store.AuditLog, cfg OTLPConfig, logger *slog.Logger) ([]*Exporter, error) {
	signals := cfg.Signals
	if len(signals) == 0 {
		signals = []string{SignalLogs}
	}
	var out []*Exporter
	for _, sig := range signals {
		var x *Exporter
		var err error
		switch sig {
		case SignalLogs:
			x, err = NewOTLPExporter(log, cfg, logger)
		case SignalTraces:
			x, err = NewOTLPTracesExporter(log, cfg, logger)
		default:
			err = fmt.Errorf("audit.export.otlp.signals: %q is not logs or traces", sig)
		}
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// NewOTLPExporter starts shipping the trail's records, as OpenTelemetry log
// records, to an OTLP/HTTP receiver (protobuf encoding).
func NewOTLPExporter(log store.AuditLog, cfg OTLPConfig, logger *slog.Logger) (*Exporter, error) {
	if logger == nil {
		logger = slog.Default()
	}
	post, err := otlpPoster(cfg, "/v1/logs")
	if err != nil {
		return nil, err
	}
	ship := func(ctx context.Context, entries []*store.AuditEntry) error {
		body, err := plogotlp.NewExportRequestFromLogs(OTLPLogs(entries, time.Now())).MarshalProto()
		if err != nil {
			return fmt.Errorf("encode OTLP request: %w", err)
		}
		rb, err := post(ctx, body)
		if err != nil {
			return err
		}
		er := plogotlp.NewExportResponse()
		if err := er.UnmarshalProto(rb); err == nil {
			if ps := er.PartialSuccess(); ps.RejectedLogRecords() > 0 {
				// Per OTLP, rejected records must not be sent again.
				logger.Warn("audit: the OTLP receiver rejected records", "count", ps.RejectedLogRecords(), "message", ps.ErrorMessage())
			}
		}
		return nil
	}
	return NewExporter(OTLPExporterName, log, cfg.Batch, cfg.Poll, logger, ship), nil
}

// otlpPoster returns the function that POSTs one protobuf OTLP request to
// the receiver and returns its answer; path is the signal's default path.
func otlpPoster(cfg OTLPConfig, path string) (func(ctx context.Context, body []byte) ([]byte, error), error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("audit.export.otlp.endpoint: %q is not an http(s) URL", cfg.Endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = path
	} else if len(cfg.Signals) > 1 {
		return nil, fmt.Errorf("audit.export.otlp.endpoint: with several signals, give the receiver's base URL (no path)")
	}
	endpoint := u.String()
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// The records and the configured headers (credentials) go only to the
	// configured receiver's origin.
	client := redirect.Client(&http.Client{Timeout: timeout}, redirect.SameOrigin)
	return func(ctx context.Context, body []byte) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		for k, v := range cfg.Headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode/100 != 2 {
			return nil, fmt.Errorf("OTLP receiver %s answered %s", endpoint, resp.Status)
		}
		return rb, nil
	}, nil
}

// otlpView is what the OTLP mapping reads from a record.
type otlpView struct {
	Seq        uint64 `json:"seq"`
	PrevHash   string `json:"prev_hash"`
	Type       string `json:"type"`
	DecisionID string `json:"decision_id"`
	ActorType  string `json:"actor_type"`
	Principal  struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"principal"`
	OnBehalfOf    string   `json:"on_behalf_of"`
	Chain         []string `json:"chain"`
	TaskID        string   `json:"task_id"`
	Server        string   `json:"server"`
	Tool          string   `json:"tool"`
	Effect        string   `json:"effect"`
	Stage         string   `json:"stage"`
	Policies      []string `json:"policies"`
	PolicyVersion string   `json:"policy_version"`
	CredentialID  string   `json:"credential_id"`
	Approval      *struct {
		Approver string `json:"approver"`
	} `json:"approval"`
	Reasons []struct {
		Message string `json:"message"`
	} `json:"reasons"`
	Status       string  `json:"status"`
	ResultSHA256 string  `json:"result_sha256"`
	DurationMS   float64 `json:"duration_ms"`
	Error        string  `json:"error"`
}

// reasonText joins a decision's reasons, for a span's status message.
func (v *otlpView) reasonText() string {
	parts := make([]string, 0, len(v.Reasons))
	for _, r := range v.Reasons {
		parts = append(parts, r.Message)
	}
	return strings.Join(parts, "; ")
}

// OTLPLogs maps records to OpenTelemetry log records. The body of each is
// the record's exact bytes (so the hash chain can be checked from the
// export); the attributes carry the decision for search, named after the
// GenAI and MCP semantic conventions where those have a name
// (gen_ai.operation.name, gen_ai.tool.name, gen_ai.agent.id, mcp.method.name,
// enduser.id) and toolgate.* otherwise.
func OTLPLogs(entries []*store.AuditEntry, observed time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "toolgate")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/toolgate/toolgate/internal/audit")
	for _, e := range entries {
		var v otlpView
		_ = json.Unmarshal(e.Body, &v) // the body goes out whole whatever happens here
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(e.Time))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(observed))
		lr.SetEventName("toolgate.audit." + e.Kind)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		if v.Effect == "deny" || (v.Status != "" && v.Status != "ok") {
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
		}
		lr.Body().SetStr(string(e.Body))
		a := lr.Attributes()
		a.PutInt("toolgate.audit.seq", int64(e.Seq))
		putStr(a, "toolgate.audit.prev_hash", v.PrevHash)
		putStr(a, "toolgate.audit.type", e.Kind)
		putStr(a, "toolgate.decision_id", e.DecisionID)
		if e.Kind == "decision" {
			putDecision(a, &v)
		} else {
			putOutcome(a, &v)
		}
	}
	return ld
}

func putStr(a pcommon.Map, k, s string) {
	if s != "" {
		a.PutStr(k, s)
	}
}

func putList(a pcommon.Map, k string, l []string) {
	if len(l) > 0 {
		s := a.PutEmptySlice(k)
		for _, x := range l {
			s.AppendEmpty().SetStr(x)
		}
	}
}

// putDecision puts a decision's attributes, named after the GenAI and MCP
// semantic conventions where those have a name (gen_ai.operation.name,
// gen_ai.tool.name, gen_ai.agent.id, mcp.method.name, enduser.id) and
// toolgate.* otherwise.
func putDecision(a pcommon.Map, v *otlpView) {
	a.PutStr("gen_ai.operation.name", "execute_tool")
	a.PutStr("mcp.method.name", "tools/call")
	putStr(a, "gen_ai.tool.name", v.Tool)
	putStr(a, "toolgate.server", v.Server)
	putStr(a, "toolgate.actor_type", v.ActorType)
	putStr(a, "toolgate.principal.kind", v.Principal.Kind)
	putStr(a, "toolgate.principal.id", v.Principal.ID)
	if v.Principal.Kind == "agent" {
		putStr(a, "gen_ai.agent.id", v.Principal.ID)
	}
	enduser := v.OnBehalfOf
	if v.Principal.Kind == "user" {
		enduser = v.Principal.ID
	}
	putStr(a, "enduser.id", enduser)
	putList(a, "toolgate.chain", v.Chain)
	putStr(a, "toolgate.task.id", v.TaskID)
	putStr(a, "toolgate.effect", v.Effect)
	putStr(a, "toolgate.stage", v.Stage)
	putList(a, "toolgate.policies", v.Policies)
	putStr(a, "toolgate.policy_version", v.PolicyVersion)
	putStr(a, "toolgate.credential_id", v.CredentialID)
	if v.Approval != nil {
		putStr(a, "toolgate.approval.approver", v.Approval.Approver)
	}
}

func putOutcome(a pcommon.Map, v *otlpView) {
	a.PutStr("gen_ai.operation.name", "execute_tool")
	a.PutStr("mcp.method.name", "tools/call")
	putStr(a, "toolgate.outcome.status", v.Status)
	putStr(a, "toolgate.outcome.result_sha256", v.ResultSHA256)
	a.PutDouble("toolgate.outcome.duration_ms", v.DurationMS)
}
