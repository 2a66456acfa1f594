package mcp

import (
	"encoding/json"
	"testing"
)

func TestProgressToken(t *testing.T) {
	for _, c := range []struct {
		params string
		want   string // the token re-encoded; "" for none
	}{
		{`{"_meta":{"progressToken":"abc"}}`, `"abc"`},
		{`{"_meta":{"progressToken":7}}`, `7`},
		{`{"_meta":{"progressToken":-12345678901234}}`, `-12345678901234`},
		{`{"_meta":{"progressToken":"\u0061"}}`, `"a"`},
		{`{"_meta":{"progressToken":1.5}}`, ``},
		{`{"_meta":{"progressToken":1e3}}`, ``},
		{`{"_meta":{"progressToken":null}}`, ``},
		{`{"_meta":{"progressToken":{"a":1}}}`, ``},
		{`{"_meta":{"progressToken":[1]}}`, ``},
		{`{"_meta":{"progressToken":true}}`, ``},
		{`{"_meta":{"progressToken":99999999999999999999}}`, ``},
		{`{"_meta":{}}`, ``},
		{`{"_meta":"x"}`, ``},
		{`{}`, ``},
		{``, ``},
		{`[]`, ``},
	} {
		tok, ok := ProgressToken(json.RawMessage(c.params))
		got := ""
		if ok {
			b, _ := json.Marshal(tok)
			got = string(b)
		}
		if got != c.want {
			t.Errorf("ProgressToken(%s) = %s, want %s", c.params, got, c.want)
		}
	}
}

func TestProgressNotification(t *testing.T) {
	got := string(ProgressNotification(int64(3), 2, "waiting <for> you"))
	want := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"message":"waiting \u003cfor\u003e you","progress":2,"progressToken":3}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
