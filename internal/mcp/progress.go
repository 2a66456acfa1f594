package mcp

import (
	"bytes"
	"encoding/json"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// ProgressToken returns the progress token of a request's params
// (_meta.progressToken): a string or an integer, as MCP defines it. ok is
// false when there is none or it is neither.
func ProgressToken(params json.RawMessage) (token any, ok bool) {
	var p struct {
		Meta struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil || len(p.Meta.Token) == 0 {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(p.Meta.Token))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, true
		}
	}
	return nil, false
}

// ProgressNotification is toolgate's own notifications/progress for the
// request whose progress token is token.
func ProgressNotification(token any, progress int, message string) []byte {
	b, err := json.Marshal(map[string]any{"jsonrpc": jsonrpc.Version, "method": "notifications/progress",
		"params": map[string]any{"progressToken": token, "progress": progress, "message": message}})
	if err != nil { // a string or an int64 token always encodes
		panic("mcp: encoding a progress notification: " + err.Error())
	}
	return b
}
