package main

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/internal/policy"
)

type nullSink struct{}

func (nullSink) WriteDecision(context.Context, *audit.Record) error       { return nil }
func (nullSink) WriteOutcome(context.Context, *audit.OutcomeRecord) error { return nil }
func (nullSink) Close() error                                             { return nil }

// BenchmarkCallWork is toolgate's own work for one allowed tools/call,
// in-process and without I/O: check and parse the client's message, build
// the call, run the pipeline (built-in policies; an audit sink that keeps
// nothing), parse the server's answer. What `toolgate run` adds beyond this
// is the audit trail's durable write and two more pipe hops (bench/run
// measures the whole).
func BenchmarkCallWork(b *testing.B) {
	set, err := policy.NewSet(policy.OrgLayer, policy.BuiltinSources())
	if err != nil {
		b.Fatal(err)
	}
	tools := gate.NewTools("bench", nil, "", nil)
	pipe, err := enforce.New(enforce.Config{Policies: policy.NewStaticEngine(set), Catalog: tools.Catalog(nil), Audit: nullSink{}})
	if err != nil {
		b.Fatal(err)
	}
	g, err := gate.New(gate.Options{Tools: tools, Pipeline: pipe, Principal: call.Principal{Kind: call.KindAgent, ID: "local", Owner: "alice"}})
	if err != nil {
		b.Fatal(err)
	}
	list := json.RawMessage(`{"tools":[{"name":"echo","description":"Echo","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}},"annotations":{"readOnlyHint":true}}]}`)
	if _, err := g.FilterList(context.Background(), list, true, tools.Generation()); err != nil {
		b.Fatal(err)
	}
	req := []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)
	resp := []byte(`{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"hello"}]}}`)
	lim := jsonrpc.Limits{MaxBytes: 4 << 20, MaxDepth: 64}
	ds := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		f, perr := jsonrpc.Parse(req, lim)
		if perr != nil {
			b.Fatal(perr)
		}
		c, _, err := g.NewCall(f.Items[0].Msg.Params)
		if err != nil {
			b.Fatal(err)
		}
		d := g.Execute(context.Background(), c, func(context.Context, *call.Call, *call.Credential) call.Outcome {
			rf, perr := jsonrpc.Parse(resp, jsonrpc.Limits{MaxBytes: 64 << 20})
			if perr != nil {
				b.Fatal(perr)
			}
			return call.Outcome{Status: call.OutcomeOK, Result: rf.Items[0].Msg.Result}
		})
		if !d.Allowed() {
			b.Fatal(d.ReasonText())
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds())/1000, "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds())/1000, "p99-µs")
}
