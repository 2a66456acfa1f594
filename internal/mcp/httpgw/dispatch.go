package httpgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/internal/mcp/upstream"
	"github.com/toolgate/toolgate/internal/server/auth"
	"github.com/toolgate/toolgate/internal/version"
)

// TaskMetaKey is the params._meta member that carries a task token (the
// header X-Toolgate-Task is the other way). It is toolgate's (reserved, see
// gate.IsReserved), so it never goes upstream.
const TaskMetaKey = "toolgate/task"

// dispatch handles one request of the client.
type dispatch struct {
	s *session
	m *jsonrpc.Message
	// raw is the message as it may be forwarded: toolgate's encoding,
	// without the client's reserved _meta keys (gate.Forwardable).
	raw        []byte
	rp         *responder
	in         *inflight
	who        *auth.Caller
	taskHeader string
}

func (d *dispatch) errorf(code int, format string, args ...any) []byte {
	return jsonrpc.ErrorResponse(d.m.ID, code, fmt.Sprintf(format, args...), nil)
}

func (d *dispatch) run(ctx context.Context) []byte {
	s := d.s
	switch d.m.Method {
	case "initialize":
		return d.initialize(ctx)
	case "tools/call":
		return d.toolsCall(ctx)
	case "tools/list":
		if !s.ep.aggregated {
			return d.toolsListOne(ctx)
		}
		return d.listAll(ctx, "tools", "name")
	}
	if !s.ep.aggregated {
		return d.forward(ctx, s.ep.servers[0], d.raw)
	}
	switch d.m.Method {
	case "ping":
		return d.result(json.RawMessage(`{}`))
	case "resources/list":
		return d.listAll(ctx, "resources", "uri")
	case "resources/templates/list":
		return d.listAll(ctx, "resourceTemplates", "uriTemplate")
	case "prompts/list":
		return d.listAll(ctx, "prompts", "name")
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return d.routed(ctx, "uri")
	case "prompts/get":
		return d.routed(ctx, "name")
	case "completion/complete":
		return d.routed(ctx, "ref")
	case "logging/setLevel":
		return d.toAll(ctx)
	}
	return d.errorf(jsonrpc.CodeMethodNotFound,
		"method %q is not routed by toolgate's aggregated endpoint /mcp; use /mcp/{server} for one server's own methods", d.m.Method)
}

func (d *dispatch) result(res json.RawMessage) []byte {
	b, err := jsonrpc.ResultResponse(d.m.ID, res)
	if err != nil {
		return d.errorf(jsonrpc.CodeInternalError, "cannot encode the result: %v", err)
	}
	return b
}

// forward sends a request to a server as it is and returns its answer;
// what the server sends meanwhile goes to the client's stream.
func (d *dispatch) forward(ctx context.Context, srv *Server, raw []byte) []byte {
	resp, err := d.call(ctx, srv, raw, nil)
	if err != nil {
		return d.errorf(jsonrpc.CodeUpstream, "the MCP server %q cannot answer: %v", srv.Name, err)
	}
	return resp
}

// call sends a client request to a server, with a per-call credential for
// an allowed tools/call.
func (d *dispatch) call(ctx context.Context, srv *Server, raw []byte, cred *call.Credential) ([]byte, error) {
	c, err := d.s.conn(ctx, srv)
	if err != nil {
		return nil, err
	}
	d.s.mu.Lock()
	d.in.server = srv.Name
	d.s.mu.Unlock()
	start := time.Now()
	resp, err := c.Call(ctx, &upstream.Request{Raw: raw, ID: d.m.ID, Method: d.m.Method, Cred: cred}, func(msg []byte) {
		if msg = d.s.fromServer(srv.Name, msg); msg != nil {
			d.rp.related(msg)
		}
	})
	if mt := d.s.g.o.Metrics; mt != nil {
		mt.Upstream(srv.Name, d.m.Method, time.Since(start), err)
	}
	if err == nil && d.m.Method == "tools/list" {
		return resp, nil
	}
	if err == nil && gate.Observed(d.m.Method) {
		// Content read outside a tool result reaches the client only once
		// the task's history knows it.
		var r struct {
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(resp, &r) == nil && r.Result != nil {
			if oerr := srv.Gate.ObserveResult(ctx, d.caller(d.taskHeader), d.m.Method, r.Result); oerr != nil {
				d.s.g.o.Log.Error("withheld content the history could not record", "server", srv.Name, "method", d.m.Method, "error", oerr)
				return d.errorf(jsonrpc.CodeInternalError, "toolgate withheld the result: %v", oerr), nil
			}
		}
	}
	if err == nil {
		resp = d.s.fromServerResponse(srv.Name, d.m.Method, resp)
	}
	return resp, err
}

// initialize opens a connection to each server of the endpoint and
// initializes it with the client's request. One server: its answer is the
// answer. Several: toolgate answers with their capabilities combined; a
// server that fails to initialize is left out of the session (logged), so
// one broken server does not take the others down.
func (d *dispatch) initialize(ctx context.Context) []byte {
	s := d.s
	s.clientElicits.Store(mcp.ClientElicits(d.m.Params))
	if !s.ep.aggregated {
		resp := d.forward(ctx, s.ep.servers[0], d.raw)
		s.noteVersion(resp)
		return resp
	}
	type answer struct {
		srv *Server
		res map[string]json.RawMessage
		err error
	}
	answers := make([]answer, len(s.ep.servers))
	var wg sync.WaitGroup
	for i, srv := range s.ep.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].srv = srv
			resp, err := d.call(ctx, srv, d.raw, nil)
			if err == nil {
				var r struct {
					Result map[string]json.RawMessage `json:"result"`
					Error  json.RawMessage            `json:"error"`
				}
				if json.Unmarshal(resp, &r) != nil || r.Result == nil {
					err = fmt.Errorf("initialize failed: %s", clip(resp, 300))
				}
				answers[i].res = r.Result
			}
			answers[i].err = err
		}()
	}
	wg.Wait()
	var params struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(d.m.Params, &params)
	version := params.ProtocolVersion
	caps := map[string]map[string]any{}
	var instructions []string
	ok := 0
	for _, a := range answers {
		if a.err != nil {
			s.g.o.Log.Error("an MCP server failed to initialize; the session goes on without it", "server", a.srv.Name, "error", a.err)
			s.dropConn(a.srv.Name)
			continue
		}
		ok++
		var v string
		if json.Unmarshal(a.res["protocolVersion"], &v) == nil && v != "" && v < version {
			version = v // the oldest version every server speaks
		}
		var c map[string]map[string]any
		_ = json.Unmarshal(a.res["capabilities"], &c)
		for name, sub := range c {
			if caps[name] == nil {
				caps[name] = map[string]any{}
			}
			for k, v := range sub {
				if b, isBool := v.(bool); isBool {
					prev, _ := caps[name][k].(bool)
					caps[name][k] = prev || b
				} else if _, set := caps[name][k]; !set {
					caps[name][k] = v
				}
			}
		}
		var ins string
		if json.Unmarshal(a.res["instructions"], &ins) == nil && ins != "" {
			instructions = append(instructions, a.srv.Name+": "+ins)
		}
	}
	if ok == 0 && len(answers) > 0 {
		return d.errorf(jsonrpc.CodeUpstream, "no MCP server behind toolgate could be initialized: %v", answers[0].err)
	}
	// Listing and routing are toolgate's own: it lists every server.
	for _, k := range []string{"tools", "prompts", "resources"} {
		if caps[k] != nil {
			caps[k]["listChanged"] = true
		}
	}
	res := map[string]any{
		"protocolVersion": version,
		"capabilities":    caps,
		"serverInfo":      map[string]any{"name": "toolgate", "version": version2()},
	}
	if len(instructions) > 0 {
		res["instructions"] = "Tools, resources and prompts of several servers, named <server>" + s.g.sep + "<name>.\n" + strings.Join(instructions, "\n")
	}
	b, _ := json.Marshal(res)
	resp := d.result(b)
	s.noteVersion(resp)
	return resp
}

func version2() string { return version.Version }

func (s *session) noteVersion(resp []byte) {
	var r struct {
		Result struct {
			V string `json:"protocolVersion"`
		} `json:"result"`
	}
	if json.Unmarshal(resp, &r) == nil {
		s.mu.Lock()
		s.version = r.Result.V
		s.mu.Unlock()
	}
}

func (s *session) dropConn(name string) {
	s.mu.Lock()
	c := s.conns[name]
	delete(s.conns, name)
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// caller is who makes the call, for the gate. The raw token goes to the
// pipeline, whose identify stage checks it for this very call (the
// verifier remembers the signature check the middleware just made, not the
// token's expiry or its key).
func (d *dispatch) caller(task string) gate.Caller {
	return gate.Caller{IdentityToken: d.who.Token, TaskToken: task}
}

// lister is the caller for listing: the principal the middleware verified
// moments ago (verifying the token again for every listed tool would cost
// a signature check each).
func (d *dispatch) lister(task string) gate.Caller {
	return gate.Caller{Principal: d.who.Principal, TaskToken: task}
}

// taskToken reads the task token from params._meta (the reserved keys the
// client sent) or the header; they must not disagree.
func (d *dispatch) taskToken(meta map[string]json.RawMessage) (string, error) {
	var inMeta string
	if raw, ok := meta[TaskMetaKey]; ok {
		if json.Unmarshal(raw, &inMeta) != nil || inMeta == "" {
			return "", errors.New(`params._meta["` + TaskMetaKey + `"] must be a task token (a string)`)
		}
	}
	switch {
	case inMeta != "" && d.taskHeader != "" && inMeta != d.taskHeader:
		return "", errors.New("the task token in params._meta and the X-Toolgate-Task header differ")
	case inMeta != "":
		return inMeta, nil
	}
	return d.taskHeader, nil
}

// toolsCall judges a call and forwards it if, and only if, it is allowed.
// What reaches the server is built from the values judged
// (gate.Params.Request), never the client's message.
func (d *dispatch) toolsCall(ctx context.Context) []byte {
	s := d.s
	p, err := gate.ParseParams(d.m.Params)
	if err != nil {
		return d.errorf(jsonrpc.CodeInvalidParams, "%v", err)
	}
	srv, tool := s.route(p.Name)
	if srv == nil {
		return d.errorf(jsonrpc.CodeInvalidParams, "unknown tool %q: tools of /mcp are named <server>%s<tool>", p.Name, s.g.sep)
	}
	task, err := d.taskToken(p.Reserved)
	if err != nil {
		return d.errorf(jsonrpc.CodeInvalidParams, "%v", err)
	}
	raw, err := p.Request(d.m.ID, tool, nil)
	if err != nil {
		return d.errorf(jsonrpc.CodeInternalError, "toolgate cannot encode the call: %v", err)
	}
	c := srv.Gate.CallOf(d.caller(task), tool, p)
	conn, err := s.conn(ctx, srv)
	if err != nil {
		return d.errorf(jsonrpc.CodeUpstream, "the MCP server %q cannot be reached: %v", srv.Name, err)
	}
	// Know the tool as the server defines it now; a failure is remembered
	// and the pipeline's describe stage denies the call.
	lctx, cancel := context.WithTimeout(ctx, s.g.o.Config.Gateway.RequestTimeout)
	if err := srv.Gate.Tools().EnsureFresh(lctx, s.lister(conn, srv, d.m.Params)); err != nil {
		s.g.o.Log.Error("cannot read the MCP server's tool list", "server", srv.Name, "error", err)
	}
	cancel()
	var answer []byte
	start := time.Now()
	// The decision is counted as soon as it is known: a forwarded call is
	// answered before Execute returns, and whoever reads /metrics after the
	// answer must find it counted.
	counted := false
	count := func(effect call.Effect) {
		if mt := s.g.o.Metrics; mt != nil && !counted {
			mt.Decision(srv.Name, tool, effect, time.Since(start))
		}
		counted = true
	}
	ctx = d.withProgress(d.withElicitor(ctx))
	dec := srv.Gate.Execute(ctx, c, func(ctx context.Context, _ *call.Call, cred *call.Credential) call.Outcome {
		count(call.Allow)
		// The request timeout bounds the server's work, not the judging:
		// a wait for a human's approval has its own timeout.
		ctx, cancel := context.WithTimeout(ctx, s.g.o.Config.Gateway.RequestTimeout)
		defer cancel()
		resp, err := d.call(ctx, srv, raw, cred)
		if err != nil {
			answer = d.errorf(jsonrpc.CodeUpstream, "the MCP server %q did not answer the call: %v", srv.Name, err)
			if ctx.Err() != nil {
				return call.Interrupted(ctx.Err(), err.Error())
			}
			return call.Outcome{Status: call.OutcomeUpstreamFailure, Error: err.Error()}
		}
		// Answer at once: the client need not wait for the outcome record.
		d.rp.answer(resp)
		return outcome(resp)
	})
	count(dec.Effect)
	if dec.Effect != call.Allow {
		s.g.o.Log.Info("denied a tool call", "server", srv.Name, "tool", tool, "decision_id", dec.ID, "reason", dec.ReasonText())
		return srv.Gate.Deny(d.m.ID, c, dec)
	}
	return answer // nil when answered already
}

// outcome reads how a forwarded call ended, for the audit trail.
func outcome(resp []byte) call.Outcome {
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal(resp, &r)
	return gate.Outcome(r.Result, r.Error)
}

// lister lists a server's tools on toolgate's own behalf, one page per
// call, with the client's per-request protocol _meta (MCP 2026-07-28).
func (s *session) lister(conn upstream.Conn, srv *Server, clientParams json.RawMessage) gate.ListFunc {
	return func(ctx context.Context, cursor string) (json.RawMessage, error) {
		return s.ownRequest(ctx, conn, "tools/list", cursor, clientParams)
	}
}

// ownRequest sends a list request of toolgate's own and returns its result.
func (s *session) ownRequest(ctx context.Context, conn upstream.Conn, method, cursor string, clientParams json.RawMessage) (json.RawMessage, error) {
	params := map[string]any{}
	if cursor != "" {
		params["cursor"] = cursor
	}
	if meta := gate.ProtocolMeta(clientParams); meta != nil {
		params["_meta"] = meta
	}
	s.mu.Lock()
	s.ownSeq++
	id := json.RawMessage(strconv.Quote("toolgate-" + s.id[:8] + "-" + strconv.FormatUint(s.ownSeq, 10)))
	s.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	resp, err := conn.Call(ctx, &upstream.Request{Raw: msg, ID: id, Method: method}, func([]byte) {})
	if err != nil {
		return nil, err
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(resp, &r); err != nil || (r.Result == nil && r.Error == nil) {
		return nil, errors.New("the server's answer is not a JSON-RPC response")
	}
	if r.Error != nil {
		return nil, fmt.Errorf("the server answered %s with an error: %s", method, clip(r.Error, 300))
	}
	return r.Result, nil
}

// toolsListOne forwards the client's tools/list to the one server and
// filters the result, as `toolgate run` does.
func (d *dispatch) toolsListOne(ctx context.Context) []byte {
	srv := d.s.ep.servers[0]
	var p struct {
		Cursor *string                    `json:"cursor"`
		Meta   map[string]json.RawMessage `json:"_meta"`
	}
	_ = json.Unmarshal(d.m.Params, &p)
	task, err := d.taskToken(p.Meta)
	if err != nil {
		return d.errorf(jsonrpc.CodeInvalidParams, "%v", err)
	}
	gen := srv.Gate.Tools().Generation()
	resp, err := d.call(ctx, srv, d.raw, nil)
	if err != nil {
		return d.errorf(jsonrpc.CodeUpstream, "the MCP server %q cannot answer: %v", srv.Name, err)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(resp, &r) != nil || r.Error != nil {
		return resp
	}
	res, err := srv.Gate.FilterListFor(ctx, d.lister(task), r.Result, p.Cursor == nil, gen)
	if err != nil {
		return d.errorf(jsonrpc.CodeUpstream, "toolgate cannot check the MCP server's tool list: %v", err)
	}
	return d.result(res)
}

// maxPages bounds toolgate's own listing of one server.
const maxPages = 100

// listAll lists member (tools, resources, …) of every server of the
// session, all pages, and names each entry's key <server><sep><key>.
// Tools are filtered by the gate first. A server that fails is left out of
// the list (logged).
func (d *dispatch) listAll(ctx context.Context, member, key string) []byte {
	s := d.s
	var task string
	if member == "tools" {
		var p struct {
			Meta map[string]json.RawMessage `json:"_meta"`
		}
		_ = json.Unmarshal(d.m.Params, &p)
		t, err := d.taskToken(p.Meta)
		if err != nil {
			return d.errorf(jsonrpc.CodeInvalidParams, "%v", err)
		}
		task = t
	}
	conns := s.openConns()
	lists := make([][]json.RawMessage, len(conns))
	var wg sync.WaitGroup
	for i, sc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			items, err := s.listServer(ctx, sc, d.m.Method, member, d.m.Params)
			if err == nil && member == "tools" {
				items, err = d.filterTools(ctx, sc, task, items)
			}
			if err != nil {
				s.g.o.Log.Warn("leaving a server out of a list", "server", sc.srv.Name, "method", d.m.Method, "error", err)
				return
			}
			for j, it := range items {
				items[j] = prefixMember(it, key, sc.srv.Name+s.g.sep)
			}
			lists[i] = items
		}()
	}
	wg.Wait()
	all := []json.RawMessage{}
	for _, l := range lists {
		all = append(all, l...)
	}
	b, _ := json.Marshal(map[string]any{member: all})
	return d.result(b)
}

// listServer reads every page of one server's list.
func (s *session) listServer(ctx context.Context, sc *serverConn, method, member string, clientParams json.RawMessage) ([]json.RawMessage, error) {
	var all []json.RawMessage
	cursor := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("the list has more than %d pages", maxPages)
		}
		res, err := s.ownRequest(ctx, sc.conn, method, cursor, clientParams)
		if err != nil {
			return nil, err
		}
		var r map[string]json.RawMessage
		if err := json.Unmarshal(res, &r); err != nil {
			return nil, err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(r[member], &items); err != nil {
			return nil, fmt.Errorf("the %s result has no %q array", method, member)
		}
		all = append(all, items...)
		next := ""
		if c, ok := r["nextCursor"]; ok && string(c) != "null" {
			_ = json.Unmarshal(c, &next)
		}
		if next == "" || next == cursor {
			return all, nil
		}
		cursor = next
	}
}

// filterTools checks a server's whole tool list with its gate.
func (d *dispatch) filterTools(ctx context.Context, sc *serverConn, task string, items []json.RawMessage) ([]json.RawMessage, error) {
	tools := sc.srv.Gate.Tools()
	gen := tools.Generation()
	list, _ := json.Marshal(map[string]any{"tools": items})
	res, err := sc.srv.Gate.FilterListFor(ctx, d.lister(task), list, true, gen)
	if err != nil {
		return nil, err
	}
	var r struct {
		Tools []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	return r.Tools, nil
}

// routed sends a request that names one server's item (params.uri, .name,
// or .ref of completion) to that server, without the prefix.
func (d *dispatch) routed(ctx context.Context, key string) []byte {
	var p map[string]json.RawMessage
	if json.Unmarshal(d.m.Params, &p) != nil || p == nil {
		return d.errorf(jsonrpc.CodeInvalidParams, "params must be an object")
	}
	var srv *Server
	if key == "ref" {
		var ref map[string]json.RawMessage
		if json.Unmarshal(p["ref"], &ref) != nil || ref == nil {
			return d.errorf(jsonrpc.CodeInvalidParams, "params.ref must be an object")
		}
		for _, k := range []string{"name", "uri"} {
			if _, ok := ref[k]; ok {
				var rest json.RawMessage
				srv, rest = d.s.unprefix(ref[k])
				ref[k] = rest
				break
			}
		}
		p["ref"], _ = json.Marshal(ref)
	} else {
		var rest json.RawMessage
		srv, rest = d.s.unprefix(p[key])
		p[key] = rest
	}
	if srv == nil {
		return d.errorf(jsonrpc.CodeInvalidParams, "the %s names no server: names in /mcp are <server>%s<name>", key, d.s.g.sep)
	}
	return d.forward(ctx, srv, rebuild(d.raw, p))
}

// toAll sends a request to every server (logging/setLevel) and answers {}
// if any took it.
func (d *dispatch) toAll(ctx context.Context) []byte {
	var last []byte
	for _, sc := range d.s.openConns() {
		resp := d.forward(ctx, sc.srv, d.raw)
		var r struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(resp, &r) == nil && r.Error == nil {
			return d.result(json.RawMessage(`{}`))
		}
		last = resp
	}
	if last == nil {
		return d.result(json.RawMessage(`{}`))
	}
	return last
}

// route splits a tool name of the endpoint into its server and tool.
func (s *session) route(name string) (*Server, string) {
	if !s.ep.aggregated {
		return s.ep.servers[0], name
	}
	server, tool, ok := strings.Cut(name, s.g.sep)
	if !ok || tool == "" {
		return nil, ""
	}
	srv := s.g.byName[server]
	if srv == nil || !slices.Contains(s.ep.servers, srv) {
		return nil, ""
	}
	return srv, tool
}

// unprefix splits a JSON string value "<server><sep><rest>".
func (s *session) unprefix(v json.RawMessage) (*Server, json.RawMessage) {
	var str string
	if json.Unmarshal(v, &str) != nil {
		return nil, v
	}
	srv, rest := s.route(str)
	if srv == nil {
		return nil, v
	}
	b, _ := json.Marshal(rest)
	return srv, b
}

// prefixMember names an item of a list for the aggregated endpoint.
func prefixMember(item json.RawMessage, key, prefix string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(item, &m) != nil || m == nil {
		return item
	}
	var v string
	if json.Unmarshal(m[key], &v) != nil {
		return item
	}
	m[key], _ = json.Marshal(prefix + v)
	b, err := jsonrpc.Marshal(m)
	if err != nil {
		return item
	}
	return b
}

// rebuild returns the request raw with new params.
func rebuild(raw []byte, params map[string]json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	p, err := jsonrpc.Marshal(params)
	if err != nil {
		return raw
	}
	m["params"] = p
	b, err := jsonrpc.Marshal(m)
	if err != nil {
		return raw
	}
	return b
}

// fromServer adjusts a message a server sends to the client: in the
// aggregated endpoint a request of the server gets an id that names the
// server (ids of several servers would collide), and a resource URI is
// named like the listed ones. It also notes a changed tool list.
func (s *session) fromServer(server string, msg []byte) []byte {
	m, err := upstreamMessage(msg)
	if err != nil {
		return nil
	}
	if m.Method == "notifications/tools/list_changed" {
		if srv := s.g.byName[server]; srv != nil {
			srv.Gate.Tools().ListChanged()
		}
	}
	if !s.ep.aggregated {
		if m.Kind == jsonrpc.KindRequest && !s.asked.Add(m.ID) {
			return nil
		}
		return msg
	}
	switch {
	case m.Kind == jsonrpc.KindRequest:
		id, _ := json.Marshal(server + s.g.sep + string(m.ID))
		if !s.asked.Add(id) {
			return nil
		}
		return withMember(msg, "id", id)
	case m.Method == "notifications/resources/updated":
		var p map[string]json.RawMessage
		if json.Unmarshal(m.Params, &p) == nil && p != nil {
			var uri string
			if json.Unmarshal(p["uri"], &uri) == nil {
				p["uri"], _ = json.Marshal(server + s.g.sep + uri)
				return rebuild(msg, p)
			}
		}
	}
	return msg
}

// fromServerResponse adjusts a server's response for the client: in the
// aggregated endpoint, resource URIs in results are named like the listed
// ones.
func (s *session) fromServerResponse(server, method string, resp []byte) []byte {
	if !s.ep.aggregated {
		return resp
	}
	return prefixURIs(method, resp, server+s.g.sep)
}

// serverResponse routes the client's answer to a server's request.
func (s *session) serverResponse(m *jsonrpc.Message) (*Server, []byte, bool) {
	if !s.ep.aggregated {
		return s.ep.servers[0], m.Raw, true
	}
	var id string
	if json.Unmarshal(m.ID, &id) != nil {
		return nil, nil, false
	}
	server, orig, ok := strings.Cut(id, s.g.sep)
	srv := s.g.byName[server]
	if !ok || srv == nil {
		return nil, nil, false
	}
	if _, err := jsonrpc.IDKey(json.RawMessage(orig)); err != nil {
		return nil, nil, false
	}
	return srv, withMember(m.Raw, "id", json.RawMessage(orig)), true
}

func upstreamMessage(msg []byte) (*jsonrpc.Message, error) {
	f, perr := jsonrpc.Parse(msg, jsonrpc.Limits{MaxBytes: len(msg) + 1})
	if perr != nil {
		return nil, perr
	}
	if f.Batch || f.Items[0].Err != nil {
		return nil, errors.New("not one message")
	}
	return f.Items[0].Msg, nil
}

// withMember returns msg with one top-level member replaced.
func withMember(msg []byte, name string, v json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(msg, &m) != nil {
		return msg
	}
	m[name] = v
	b, err := jsonrpc.Marshal(m)
	if err != nil {
		return msg
	}
	return b
}

func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
