package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/toolgate/toolgate/internal/call"
)

// Metrics are the Prometheus collectors of `toolgate serve`, served at
// /metrics. Labels are bounded by configuration (servers, tools the
// servers list, three effects), never by what a caller sends: a tool name
// that no server lists is counted as "(unknown)".
type Metrics struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec
	decideLat *prometheus.HistogramVec
	upstream  *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	// Known says whether a server is configured and a tool is one it lists
	// (nil: every name is used as it is).
	Known func(server, tool string) (knownServer, knownTool bool)
}

// NewMetrics registers the collectors (and the Go and process ones).
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "toolgate", Name: "decisions_total",
		Help: "Decisions on tool calls, by effect (allow, deny, ask), server, tool and front door (mcp, authzen).",
	}, []string{"effect", "server", "tool", "source"})
	m.decideLat = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "toolgate", Name: "decision_duration_seconds",
		Help:    "Time to judge a call (the pipeline up to the durable decision record), by front door.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"source"})
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "toolgate", Name: "upstream_duration_seconds",
		Help:    "Time an upstream MCP server took to answer a request, by server, method and result (ok, error).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"server", "method", "result"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "toolgate", Name: "errors_total",
		Help: "Errors by kind: invalid_message, upstream, origin_refused, session_limit, unauthenticated, …",
	}, []string{"kind"})
	m.reg.MustRegister(m.decisions, m.decideLat, m.upstream, m.errors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// AuditDurability shows the audit trail's durability mode ("flush" or
// "os") as toolgate_audit_durability{mode="…"} 1, so that a trail that does
// not flush every record before its call runs is never a silent setting.
func (m *Metrics) AuditDurability(mode string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "toolgate", Name: "audit_durability",
		Help: "The audit trail's durability mode (1 for the mode in use): flush = each decision record is on stable storage before its call runs; os = written to the operating system before, flushed within 50 ms.",
	}, []string{"mode"})
	g.WithLabelValues(mode).Set(1)
	m.reg.MustRegister(g)
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Decision counts an MCP tool call's decision (httpgw.Metrics).
func (m *Metrics) Decision(server, tool string, effect call.Effect, took time.Duration) {
	m.decide("mcp", server, tool, effect, took)
}

func (m *Metrics) decide(source, server, tool string, effect call.Effect, took time.Duration) {
	if m.Known != nil {
		ks, kt := m.Known(server, tool)
		if !ks {
			server = "(unknown)"
		}
		if !kt {
			tool = "(unknown)"
		}
	}
	m.decisions.WithLabelValues(string(effect), server, tool, source).Inc()
	m.decideLat.WithLabelValues(source).Observe(took.Seconds())
}

// Upstream records an upstream request's latency (httpgw.Metrics).
func (m *Metrics) Upstream(server, method string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
		m.errors.WithLabelValues("upstream").Inc()
	}
	m.upstream.WithLabelValues(server, knownMethod(method), result).Observe(took.Seconds())
}

// Error counts an error by kind (httpgw.Metrics).
func (m *Metrics) Error(kind string) { m.errors.WithLabelValues(kind).Inc() }

// knownMethod keeps the method label bounded.
func knownMethod(m string) string {
	switch m {
	case "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/read",
		"resources/templates/list", "resources/subscribe", "resources/unsubscribe", "prompts/list",
		"prompts/get", "completion/complete", "logging/setLevel":
		return m
	}
	return "other"
}
