package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// ReservedPrefix starts every params._meta key that is toolgate's own:
// credentials it adds (toolgate/txn-token, toolgate/access-token), the task
// token a client may present (toolgate/task), the decision on a denial.
// A client's keys under it never reach a server, in any letter case: a
// server that matched keys case-insensitively would take a forged
// "Toolgate/Txn-Token" for toolgate's.
const ReservedPrefix = "toolgate/"

// IsReserved tells whether a _meta key is toolgate's.
func IsReserved(key string) bool {
	return len(key) >= len(ReservedPrefix) && strings.EqualFold(key[:len(ReservedPrefix)], ReservedPrefix)
}

// Params are the params of a tools/call as toolgate read them. The call
// that reaches the server is built from these values (Request), never from
// the client's bytes: what is judged is what is sent.
type Params struct {
	Name      string
	Arguments json.RawMessage // an object; {} when the client sent none
	// Meta is the client's params._meta without toolgate's reserved keys
	// (nil when empty); Reserved holds those keys, for toolgate to read.
	Meta     map[string]json.RawMessage
	Reserved map[string]json.RawMessage
	// Task is params.task (a task-augmented call, MCP 2025-11-25), nil
	// when absent.
	Task json.RawMessage
}

// ParseParams reads the params of a tools/call. Members other than name,
// arguments, _meta and task are not read, and so not forwarded. An error is
// an invalid-params error for the client.
func ParseParams(params json.RawMessage) (*Params, error) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil || p == nil {
		return nil, errors.New("tools/call params must be an object")
	}
	out := &Params{}
	if err := json.Unmarshal(p["name"], &out.Name); err != nil || out.Name == "" {
		return nil, errors.New(`tools/call params need a non-empty string "name"`)
	}
	args := p["arguments"]
	switch c := firstByte(args); {
	case c == 0 || string(bytes.TrimSpace(args)) == "null":
		args = json.RawMessage("{}")
	case c != '{':
		return nil, errors.New(`tools/call "arguments" must be an object`)
	}
	out.Arguments = args
	if m, ok := p["_meta"]; ok && string(m) != "null" {
		var meta map[string]json.RawMessage
		if err := json.Unmarshal(m, &meta); err != nil || meta == nil {
			return nil, errors.New(`tools/call "_meta" must be an object`)
		}
		for k, v := range meta {
			if IsReserved(k) {
				if out.Reserved == nil {
					out.Reserved = map[string]json.RawMessage{}
				}
				out.Reserved[k] = v
				delete(meta, k)
			}
		}
		if len(meta) > 0 {
			out.Meta = meta
		}
	}
	if t, ok := p["task"]; ok && string(t) != "null" {
		if firstByte(t) != '{' {
			return nil, errors.New(`tools/call "task" must be an object`)
		}
		out.Task = t
	}
	return out, nil
}

// Request encodes the tools/call that goes to the server: id, the tool's
// name as the server knows it, the judged arguments, the client's _meta
// without reserved keys plus extra (toolgate's own keys, such as a per-call
// credential), and the task member.
func (p *Params) Request(id json.RawMessage, tool string, extra map[string]string) ([]byte, error) {
	name, err := jsonrpc.Marshal(tool)
	if err != nil {
		return nil, err
	}
	// The members are toolgate's encoding already (jsonrpc.Parse), so they
	// are copied, not encoded again: this runs on every allowed call.
	b := make([]byte, 0, 96+len(id)+len(name)+len(p.Arguments)+len(p.Task))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"method":"tools/call","params":{"name":`...)
	b = append(b, name...)
	b = append(b, `,"arguments":`...)
	b = append(b, p.Arguments...)
	if len(p.Meta) > 0 || len(extra) > 0 {
		meta := make(map[string]any, len(p.Meta)+len(extra))
		for k, v := range p.Meta {
			meta[k] = v
		}
		for k, v := range extra {
			meta[k] = v
		}
		m, err := jsonrpc.Marshal(meta)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"_meta":`...), m...)
	}
	if p.Task != nil {
		b = append(append(b, `,"task":`...), p.Task...)
	}
	return append(b, "}}"...), nil
}

// StripReserved returns a request's or notification's params without the
// client's reserved _meta keys, for every message toolgate forwards (a task
// token under toolgate/task must not reach the server either). It decides
// on decoded names: params reach it re-encoded by jsonrpc.Parse, where no
// name is escaped, so a quick look for the prefix in any case is enough to
// skip the decoding in the usual case.
func StripReserved(params json.RawMessage) (json.RawMessage, error) {
	if params == nil || !containsFold(params, ReservedPrefix) {
		return params, nil
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil || p == nil {
		return params, nil // an array: no _meta
	}
	changed := false
	var err error
	for name, v := range p {
		// A server that matches names case-insensitively reads "_META" as
		// _meta; names repeated in another case never get here.
		if !strings.EqualFold(name, "_meta") || firstByte(v) != '{' {
			continue
		}
		var meta map[string]json.RawMessage
		if err := json.Unmarshal(v, &meta); err != nil {
			return nil, err
		}
		for k := range meta {
			if IsReserved(k) {
				delete(meta, k)
				changed = true
			}
		}
		if p[name], err = jsonrpc.Marshal(meta); err != nil {
			return nil, err
		}
	}
	if !changed {
		return params, nil
	}
	return jsonrpc.Marshal(p)
}

// containsFold tells whether b contains the ASCII string s in any case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(s)], []byte(s)) {
			return true
		}
	}
	return false
}

// Forwardable is a request or notification as it goes to the server:
// toolgate's encoding, without the client's reserved _meta keys.
func Forwardable(m *jsonrpc.Message) ([]byte, error) {
	p, err := StripReserved(m.Params)
	if err != nil {
		return nil, err
	}
	if len(p) == len(m.Params) {
		return m.Raw, nil
	}
	c := *m
	c.Params = p
	return c.Encode(), nil
}
