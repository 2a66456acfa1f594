package mcp

import (
	"context"
	"testing"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

func TestElicitationCapability(t *testing.T) {
	for _, tc := range []struct {
		params     string
		init, meta bool
	}{
		{`{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}}}`, true, false},
		{`{"capabilities":{"sampling":{}}}`, false, false},
		{`{"capabilities":null}`, false, false},
		{`not json`, false, false},
		{`{"name":"t","_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"form":{}}}}}`, false, true},
		{`{"name":"t","_meta":{"io.modelcontextprotocol/clientCapabilities":"elicitation"}}`, false, false},
	} {
		if got := ClientElicits([]byte(tc.params)); got != tc.init {
			t.Errorf("ClientElicits(%s) = %v", tc.params, got)
		}
		if got := MetaElicits([]byte(tc.params)); got != tc.meta {
			t.Errorf("MetaElicits(%s) = %v", tc.params, got)
		}
	}
	answer := make(chan *jsonrpc.Message, 1)
	answer <- &jsonrpc.Message{Result: []byte(`{"action":"accept","content":{"answer":"approve"}}`)}
	if a, c, err := AwaitElicitation(context.Background(), answer); err != nil || a != "accept" || string(c) != `{"answer":"approve"}` {
		t.Errorf("accept: %q %s %v", a, c, err)
	}
	answer <- &jsonrpc.Message{Result: []byte(`{"content":{}}`)}
	if _, _, err := AwaitElicitation(context.Background(), answer); err == nil {
		t.Error("an answer without an action was taken")
	}
	answer <- &jsonrpc.Message{Error: []byte(`{"code":-1,"message":"no"}`)}
	if _, _, err := AwaitElicitation(context.Background(), answer); err == nil {
		t.Error("an error answer was taken")
	}
}
