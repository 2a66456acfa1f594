package httpgw

import (
	"bytes"
	"encoding/json"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// prefixURIs names the resource URIs in a server's result for the
// aggregated endpoint, as resources/list names them (<server><sep><uri>),
// so that a client can read what a result points to: the contents of
// resources/read, and the resource links and embedded resources in the
// content of tools/call and in the messages of prompts/get. Anything it
// cannot read is left as the server sent it.
func prefixURIs(method string, resp []byte, prefix string) []byte {
	if !bytes.Contains(resp, []byte(`"uri"`)) {
		return resp // nothing to name: skip the decoding
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(resp, &m) != nil || m == nil {
		return resp
	}
	var r map[string]json.RawMessage
	if json.Unmarshal(m["result"], &r) != nil || r == nil {
		return resp
	}
	var member string
	var each func(map[string]json.RawMessage) bool
	switch method {
	case "resources/read":
		member = "contents"
		each = func(it map[string]json.RawMessage) bool { return prefixString(it, "uri", prefix) }
	case "tools/call":
		member = "content"
		each = func(it map[string]json.RawMessage) bool { return prefixContent(it, prefix) }
	case "prompts/get":
		member = "messages"
		each = func(msg map[string]json.RawMessage) bool {
			var c map[string]json.RawMessage
			if json.Unmarshal(msg["content"], &c) != nil || c == nil || !prefixContent(c, prefix) {
				return false
			}
			return setMember(msg, "content", c)
		}
	default:
		return resp
	}
	var items []map[string]json.RawMessage
	if json.Unmarshal(r[member], &items) != nil {
		return resp
	}
	changed := false
	for _, it := range items {
		if it != nil && each(it) {
			changed = true
		}
	}
	if !changed {
		return resp
	}
	b, err := jsonrpc.Marshal(items)
	if err != nil {
		return resp
	}
	r[member] = b
	if !setMember(m, "result", r) {
		return resp
	}
	out, err := jsonrpc.Marshal(m)
	if err != nil {
		return resp
	}
	return out
}

// prefixContent names the URI of one content block: a resource_link's
// uri, an embedded resource's resource.uri.
func prefixContent(c map[string]json.RawMessage, prefix string) bool {
	var typ string
	_ = json.Unmarshal(c["type"], &typ)
	switch typ {
	case "resource_link":
		return prefixString(c, "uri", prefix)
	case "resource":
		var res map[string]json.RawMessage
		if json.Unmarshal(c["resource"], &res) != nil || res == nil || !prefixString(res, "uri", prefix) {
			return false
		}
		return setMember(c, "resource", res)
	}
	return false
}

// prefixString prefixes the string member key of m, if there is one.
func prefixString(m map[string]json.RawMessage, key, prefix string) bool {
	var v string
	if json.Unmarshal(m[key], &v) != nil || v == "" {
		return false
	}
	b, err := json.Marshal(prefix + v)
	if err != nil {
		return false
	}
	m[key] = b
	return true
}

func setMember(m map[string]json.RawMessage, key string, v map[string]json.RawMessage) bool {
	b, err := jsonrpc.Marshal(v)
	if err != nil {
		return false
	}
	m[key] = b
	return true
}
