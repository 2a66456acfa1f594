package mcp

import "testing"

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
	if a, c, ok := ElicitResult([]byte(`{"action":"accept","content":{"answer":"approve"}}`)); !ok || a != "accept" || string(c) != `{"answer":"approve"}` {
		t.Errorf("ElicitResult accept: %q %s %v", a, c, ok)
	}
	if _, _, ok := ElicitResult([]byte(`{"content":{}}`)); ok {
		t.Error("ElicitResult without an action")
	}
}
