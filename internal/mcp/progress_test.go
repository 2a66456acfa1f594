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

// FuzzProgressToken: whatever the params, a token found is a string or an
// integer, and the notification built with it is JSON whose token decodes
// to the same value as the client's.
func FuzzProgressToken(f *testing.F) {
	f.Add([]byte(`{"_meta":{"progressToken":"abc"}}`))
	f.Add([]byte(`{"_meta":{"progressToken":-7}}`))
	f.Add([]byte(`{"_meta":{"progressToken":"\ud800"}}`))
	f.Fuzz(func(t *testing.T, params []byte) {
		tok, ok := ProgressToken(params)
		if !ok {
			return
		}
		switch tok.(type) {
		case string, int64:
		default:
			t.Fatalf("token %#v of type %T", tok, tok)
		}
		var n struct {
			Params struct {
				Token json.RawMessage `json:"progressToken"`
			} `json:"params"`
		}
		if err := json.Unmarshal(ProgressNotification(tok, 1, "m"), &n); err != nil {
			t.Fatal(err)
		}
		var client struct {
			Meta struct {
				Token any `json:"progressToken"`
			} `json:"_meta"`
		}
		var ours any
		if json.Unmarshal(params, &client) != nil || json.Unmarshal(n.Params.Token, &ours) != nil || client.Meta.Token != ours {
			t.Fatalf("client's token %#v, ours %s", client.Meta.Token, n.Params.Token)
		}
	})
}
