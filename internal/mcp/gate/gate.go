// Package gate is the MCP side of enforcement, shared by toolgate's MCP front
// doors (the stdio proxy now, the HTTP gateway later): it turns a tools/call
// into a call.Call for the pipeline, answers a denied call, hides from
// tools/list the tools a principal can never call, and keeps each server's
// tool definitions checked against their pins.
package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// Options configure a Gate.
type Options struct {
	// Tools is the server's tool registry; its Catalog must be the
	// pipeline's catalog, so that pins are checked on every call.
	Tools    *Tools
	Pipeline *enforce.Pipeline
	// Principal is who every call through this gate is made by.
	Principal call.Principal
	// TaskToken is presented with every call ("" for none).
	TaskToken string
	// Denial is mcp.DenialResult (default) or mcp.DenialError.
	Denial string
	Log    *slog.Logger
}

// Gate enforces policy on one MCP server's tools.
type Gate struct {
	o Options
}

// New checks the options.
func New(o Options) (*Gate, error) {
	if o.Tools == nil || o.Pipeline == nil {
		return nil, errors.New("gate: tools and pipeline are required")
	}
	if o.Denial == "" {
		o.Denial = mcp.DenialResult
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Gate{o: o}, nil
}

// Tools is the gate's tool registry.
func (g *Gate) Tools() *Tools { return g.o.Tools }

// Caller is who makes a call through a gate that serves many callers (the
// HTTP gateway): the principal the front door verified, or the raw identity
// token for the pipeline's identify stage to verify, and the task token.
type Caller struct {
	Principal     call.Principal
	IdentityToken string
	TaskToken     string
}

// caller is the gate's own caller (its configured principal and task token).
func (g *Gate) caller() Caller {
	return Caller{Principal: g.o.Principal, TaskToken: g.o.TaskToken}
}

// newCall starts a call to one of the server's tools.
func (g *Gate) newCall(who Caller, tool string) *call.Call {
	return &call.Call{
		Principal:     who.Principal,
		IdentityToken: who.IdentityToken,
		TaskToken:     who.TaskToken,
		Server:        call.Server{Name: g.o.Tools.server},
		Tool:          call.Tool{Name: tool},
	}
}

// NewCall reads the params of a tools/call by the gate's principal. A
// malformed request is an invalid-params error (the request is answered,
// never forwarded). The call to forward is built from the returned Params
// (Params.Request).
func (g *Gate) NewCall(params json.RawMessage) (*call.Call, *Params, error) {
	return g.NewCallBy(g.caller(), params)
}

// NewCallBy is NewCall for a call made by who.
func (g *Gate) NewCallBy(who Caller, params json.RawMessage) (*call.Call, *Params, error) {
	p, err := ParseParams(params)
	if err != nil {
		return nil, nil, err
	}
	c := g.newCall(who, p.Name)
	c.Input = p.Arguments
	return c, p, nil
}

// CallOf starts a call to tool with already parsed params (the HTTP
// gateway's aggregated endpoint names tools <server><sep><tool>).
func (g *Gate) CallOf(who Caller, tool string, p *Params) *call.Call {
	c := g.newCall(who, tool)
	c.Input = p.Arguments
	return c
}

// CodeNotificationCall is the code of the recorded refusal of a tools/call
// sent as a notification.
const CodeNotificationCall = "mcp.notification_call"

// RefuseNotificationCall records a tools/call sent as a notification (no
// id): it could never be answered with a decision, so it is never
// forwarded, and the attempt is in the audit trail.
func (g *Gate) RefuseNotificationCall(ctx context.Context, who Caller, params json.RawMessage) call.Decision {
	tool := "(unreadable)"
	var input json.RawMessage
	if p, err := ParseParams(params); err == nil {
		tool, input = p.Name, p.Arguments
	}
	c := g.newCall(who, tool)
	c.Input = input
	return g.o.Pipeline.Refuse(ctx, c, CodeNotificationCall,
		"a tools/call sent as a notification (without an id) is never forwarded: it could not be answered with a decision")
}

// Observed tells which results toolgate observes before they reach the
// client: content a server sends outside a tool result, which must taint
// the task's history as a tool's output would.
func Observed(method string) bool {
	switch method {
	case "resources/read", "prompts/get", "tasks/result":
		return true
	}
	return false
}

// ObserveResult lets the history learn from the result of an observed
// method (Observed) before it reaches the client. An error means the result
// must be withheld.
func (g *Gate) ObserveResult(ctx context.Context, who Caller, method string, result json.RawMessage) error {
	c := g.newCall(who, "")
	return g.o.Pipeline.ObserveContent(ctx, c, result)
}

// Caller is the gate's own caller (its configured principal and task token).
func (g *Gate) Caller() Caller { return g.caller() }

// Execute judges a call and forwards it with fwd if, and only if, it is
// allowed (enforce.Pipeline.Execute).
func (g *Gate) Execute(ctx context.Context, c *call.Call, fwd enforce.Forward) call.Decision {
	return g.o.Pipeline.Execute(ctx, c, fwd)
}

// FilterList takes a tools/list result from the server, records its tools
// (and checks their pins) and returns the result without the tools the
// principal can never call or whose definition is refused. complete and gen
// are as for Tools.Observe. Any other member of the result is kept. An
// error means the result cannot be checked and must not reach the client.
func (g *Gate) FilterList(ctx context.Context, result json.RawMessage, complete bool, gen uint64) (json.RawMessage, error) {
	return g.FilterListFor(ctx, g.caller(), result, complete, gen)
}

// FilterListFor is FilterList for the tools who may call.
func (g *Gate) FilterListFor(ctx context.Context, who Caller, result json.RawMessage, complete bool, gen uint64) (json.RawMessage, error) {
	var res map[string]json.RawMessage
	if err := json.Unmarshal(result, &res); err != nil || res == nil {
		return nil, errors.New("the tools/list result is not an object")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(res["tools"], &raw); err != nil || raw == nil {
		return nil, errors.New(`the tools/list result has no "tools" array`)
	}
	if c, ok := res["nextCursor"]; ok && string(c) != "null" {
		complete = false // a page, not the whole list
	}
	tools := g.o.Tools.Observe(raw, complete, gen)
	kept := make([]json.RawMessage, 0, len(tools))
	for _, t := range tools {
		ok, why := g.o.Pipeline.Reachable(ctx, g.newCall(who, t.Name))
		if !ok {
			g.o.Log.Debug("hiding a tool from tools/list", "tool", t.Name, "reason", why)
			continue
		}
		kept = append(kept, t.Raw)
	}
	list, err := jsonrpc.Marshal(kept)
	if err != nil {
		return nil, err
	}
	res["tools"] = list
	return jsonrpc.Marshal(res)
}

// Outcome reads how a forwarded tools/call ended from the server's
// response members: its JSON-RPC error, or its result (isError: a tool
// error). Result keeps the server's exact bytes, so the audit trail's
// result digest is the same whichever front door relayed the call; the
// result is scanned once, not decoded.
func Outcome(result, rpcError json.RawMessage) call.Outcome {
	if rpcError != nil {
		return call.Outcome{Status: call.OutcomeUpstreamFailure, Error: "JSON-RPC error: " + string(rpcError)}
	}
	var r struct {
		IsError json.RawMessage `json:"isError"`
	}
	_ = json.Unmarshal(result, &r)
	status := call.OutcomeOK
	if string(r.IsError) == "true" {
		status = call.OutcomeToolError
	}
	return call.Outcome{Status: status, Result: result}
}

// Decision is what a denied call's answer tells the client about the
// decision: the same fields as the audit record, so one can be found from
// the other.
type Decision struct {
	ID       string        `json:"decision_id"`
	Effect   call.Effect   `json:"effect"`
	Policies []string      `json:"policies"`
	Reasons  []call.Reason `json:"reasons"`
}

// MetaKey is the _meta key under which a denial carries its Decision.
const MetaKey = "toolgate/decision"

// CodeDenied is the JSON-RPC error code of a denial when config asks for
// errors (mcp.denial: error). It is outside JSON-RPC's reserved range;
// 403 recalls HTTP's Forbidden.
const CodeDenied = -32403

// Deny encodes the answer to a denied tools/call with the given id.
//
// By default it is a successful response whose CallToolResult has isError
// true and the reason as text, so the model reads why and can adapt. The
// decision is in structuredContent and in _meta["toolgate/decision"] — but
// not in structuredContent when the tool declares an outputSchema: clients
// validate structuredContent against that schema (the TypeScript SDK does
// so even for errors), and the denial would turn into a schema error.
func (g *Gate) Deny(id json.RawMessage, c *call.Call, d call.Decision) []byte {
	info := Decision{ID: d.ID, Effect: d.Effect, Policies: d.Policies, Reasons: d.Reasons}
	if info.Policies == nil {
		info.Policies = []string{}
	}
	if info.Reasons == nil {
		info.Reasons = []call.Reason{}
	}
	text := DenialText(c, d)
	if g.o.Denial == mcp.DenialError {
		return jsonrpc.ErrorResponse(id, CodeDenied, text, info)
	}
	type content struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	res := struct {
		Content    []content      `json:"content"`
		Structured *Decision      `json:"structuredContent,omitempty"`
		IsError    bool           `json:"isError"`
		Meta       map[string]any `json:"_meta"`
	}{
		Content: []content{{Type: "text", Text: text}},
		IsError: true,
		Meta:    map[string]any{MetaKey: info},
	}
	if t := g.o.Tools.Peek(c.Tool.Name); t == nil || !t.HasOutputSchema {
		res.Structured = &info
	}
	result, err := jsonrpc.Marshal(res)
	if err == nil {
		var b []byte
		if b, err = jsonrpc.ResultResponse(id, result); err == nil {
			return b
		}
	}
	// Cannot happen with these types; still, answer rather than hang.
	return jsonrpc.ErrorResponse(id, CodeDenied, text, nil)
}

// DenialText is the sentence a model reads: what was denied and why, in the
// words of the policies' @reason annotations.
func DenialText(c *call.Call, d call.Decision) string {
	why := d.ReasonText()
	if why == "" {
		why = "no policy allows it"
	}
	var b strings.Builder
	b.WriteString("toolgate denied this call to ")
	b.WriteString(c.Tool.Name)
	b.WriteString(": ")
	b.WriteString(why)
	if d.ID != "" {
		b.WriteString(" (decision ")
		b.WriteString(d.ID)
		b.WriteString(")")
	}
	return b.String()
}

// ProtocolMeta returns the per-request protocol members of a request's
// params._meta (the "io.modelcontextprotocol/" keys of MCP 2026-07-28 and
// later: protocol version, client info and capabilities), or nil. Requests
// toolgate sends on its own (tools/list) carry them, so the server reads
// them as it reads the client's.
func ProtocolMeta(params json.RawMessage) json.RawMessage {
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		return nil
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(p["_meta"], &meta) != nil {
		return nil
	}
	out := map[string]json.RawMessage{}
	for k, v := range meta {
		if strings.HasPrefix(k, "io.modelcontextprotocol/") {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	b, err := jsonrpc.Marshal(out)
	if err != nil {
		return nil
	}
	return b
}

func firstByte(b []byte) byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
