package stdio

import (
	"encoding/json"
	"testing"

	"github.com/toolgate/toolgate/internal/call"
)

func TestWithCredential(t *testing.T) {
	in := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"s":"<a&b>"},"_meta":{"progressToken":1,"toolgate/txn-token":"forged-by-client"}}}`
	out, err := WithCredential([]byte(in), &call.Credential{ID: "c", Token: "minted.token.sig", AccessToken: "at-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID     int `json:"id"`
		Params struct {
			Arguments json.RawMessage `json:"arguments"`
			Meta      map[string]any  `json:"_meta"`
		} `json:"params"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if m.ID != 7 || string(m.Params.Arguments) != `{"s":"<a&b>"}` {
		t.Fatalf("arguments or id changed: %s", out)
	}
	if m.Params.Meta["toolgate/txn-token"] != "minted.token.sig" || m.Params.Meta["toolgate/access-token"] != "at-0123456789" || m.Params.Meta["progressToken"] != 1.0 {
		t.Fatalf("_meta: %v", m.Params.Meta)
	}
	// Without a credential, what the client put under toolgate's keys goes.
	out, err = WithCredential([]byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Params.Meta = nil
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Params.Meta["toolgate/txn-token"]; ok {
		t.Fatalf("a client-supplied token passed through: %s", out)
	}
	plain := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`
	if out, _ := WithCredential([]byte(plain), nil); !sameJSON(string(out), plain) {
		t.Fatalf("a call with nothing to change was changed: %s", out)
	}
}
