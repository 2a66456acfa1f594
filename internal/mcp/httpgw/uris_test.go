package httpgw

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestPrefixURIs(t *testing.T) {
	for _, tc := range []struct {
		name, method, in, want string
	}{
		{"read contents", "resources/read",
			`{"jsonrpc":"2.0","id":1,"result":{"contents":[{"uri":"file:///a","text":"x"},{"uri":"file:///b","blob":"AA=="}]}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"contents":[{"uri":"s__file:///a","text":"x"},{"uri":"s__file:///b","blob":"AA=="}]}}`},
		{"tool result: link and embedded resource, text untouched", "tools/call",
			`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"uri"},{"type":"resource_link","uri":"mem://x","name":"x"},{"type":"resource","resource":{"uri":"mem://y","text":"y"}}],"isError":false}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"uri"},{"type":"resource_link","uri":"s__mem://x","name":"x"},{"type":"resource","resource":{"uri":"s__mem://y","text":"y"}}],"isError":false}}`},
		{"prompt messages", "prompts/get",
			`{"jsonrpc":"2.0","id":1,"result":{"messages":[{"role":"user","content":{"type":"resource","resource":{"uri":"a://b","text":"t"}}},{"role":"user","content":{"type":"text","text":"hi"}}]}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"messages":[{"role":"user","content":{"type":"resource","resource":{"uri":"s__a://b","text":"t"}}},{"role":"user","content":{"type":"text","text":"hi"}}]}}`},
		{"no uri: unchanged bytes", "tools/call",
			`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`, ""},
		{"an error response is left alone", "resources/read",
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"no such resource","data":{"uri":"x"}}}`, ""},
		{"other methods are left alone", "completion/complete",
			`{"jsonrpc":"2.0","id":1,"result":{"completion":{"values":["uri"]},"uri":"x"}}`, ""},
		{"malformed content is left alone", "tools/call",
			`{"jsonrpc":"2.0","id":1,"result":{"content":{"uri":"x"}}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := prefixURIs(tc.method, []byte(tc.in), "s__")
			if tc.want == "" {
				if string(got) != tc.in {
					t.Fatalf("changed:\n got %s\nwant %s", got, tc.in)
				}
				return
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("%v: %s", err, got)
			}
			_ = json.Unmarshal([]byte(tc.want), &w)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// FuzzPrefixURIs: whatever a server sends, naming its URIs never panics,
// keeps valid JSON valid, and leaves a response with no "uri" untouched.
func FuzzPrefixURIs(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{"contents":[{"uri":"file:///a","text":"x"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"resource_link","uri":"m://x"},{"type":"resource","resource":{"uri":"m://y"}}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"messages":[{"role":"user","content":{"type":"resource","resource":{"uri":"a://b"}}}]}}`,
		`{"result":{"content":[null,1,"uri",{"type":"resource","resource":null}]}}`,
		`[{"uri":"x"}]`,
	} {
		for _, m := range []string{"resources/read", "tools/call", "prompts/get"} {
			f.Add(m, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, method string, resp []byte) {
		out := prefixURIs(method, resp, "s__")
		if json.Valid(resp) && !json.Valid(out) {
			t.Fatalf("valid in, invalid out:\n%s\n%s", resp, out)
		}
		if !bytes.Contains(resp, []byte(`"uri"`)) && !bytes.Equal(out, resp) {
			t.Fatalf("changed a response without uri:\n%s\n%s", resp, out)
		}
	})
}
