package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

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

// ElicitationRequest is toolgate's own elicitation/create request to the
// client, with an id of toolgate's.
func ElicitationRequest(id json.RawMessage, message string, schema json.RawMessage) ([]byte, error) {
	return json.Marshal(map[string]any{"jsonrpc": jsonrpc.Version, "id": id, "method": "elicitation/create",
		"params": map[string]any{"message": message, "requestedSchema": schema}})
}

// AwaitElicitation waits for the client's answer to an elicitation/create
// (delivered on answer) and returns its action ("accept", "decline",
// "cancel") and content.
func AwaitElicitation(ctx context.Context, answer <-chan *jsonrpc.Message) (action string, content json.RawMessage, err error) {
	select {
	case m := <-answer:
		if m.Error != nil {
			return "", nil, fmt.Errorf("the client answered elicitation/create with an error: %s", m.Error)
		}
		var res struct {
			Action  string          `json:"action"`
			Content json.RawMessage `json:"content"`
		}
		if json.Unmarshal(m.Result, &res) != nil || res.Action == "" {
			return "", nil, errors.New("the client's elicitation result has no action")
		}
		return res.Action, res.Content, nil
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
}
