package mcp

import "encoding/json"

// ClientElicits tells whether a client's initialize params declare the
// elicitation capability.
func ClientElicits(initializeParams json.RawMessage) bool {
	var p struct {
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	if json.Unmarshal(initializeParams, &p) != nil {
		return false
	}
	_, ok := p.Capabilities["elicitation"]
	return ok
}

// MetaElicits tells whether a request declares the elicitation capability
// in its own _meta["io.modelcontextprotocol/clientCapabilities"] (MCP
// 2026-07-28 and later, which have no initialize).
func MetaElicits(params json.RawMessage) bool {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return false
	}
	var caps map[string]json.RawMessage
	if json.Unmarshal(p.Meta["io.modelcontextprotocol/clientCapabilities"], &caps) != nil {
		return false
	}
	_, ok := caps["elicitation"]
	return ok
}

// ElicitResult reads a client's answer to elicitation/create: its action
// ("accept", "decline", "cancel") and content.
func ElicitResult(result json.RawMessage) (action string, content json.RawMessage, ok bool) {
	var res struct {
		Action  string          `json:"action"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(result, &res) != nil || res.Action == "" {
		return "", nil, false
	}
	return res.Action, res.Content, true
}
