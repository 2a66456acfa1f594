package jsonrpc

import (
	"encoding/json"
	"strings"
	"testing"
)

var lim = Limits{MaxBytes: 1 << 20, MaxDepth: 16}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name, in string
		kind     Kind
		id       string
		method   string
		raw      string // what is passed on ("" = the input, trimmed)
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, KindRequest, "1", "tools/call", ""},
		{"string id", `{"jsonrpc":"2.0","id":"a-1","method":"ping"}`, KindRequest, `"a-1"`, "ping", ""},
		{"negative id", `{"jsonrpc":"2.0","id":-7,"method":"ping"}`, KindRequest, "-7", "ping", ""},
		{"id written as 1.0", `{"jsonrpc":"2.0","id":1.0,"method":"ping"}`, KindRequest, "1.0", "ping", ""},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, KindNotification, "", "notifications/initialized", ""},
		{"array params", `{"jsonrpc":"2.0","method":"x","params":[1,2]}`, KindNotification, "", "x", ""},
		{"result", `{"jsonrpc":"2.0","id":3,"result":{}}`, KindResponse, "3", "", ""},
		{"error", `{"jsonrpc":"2.0","id":"q","error":{"code":-1,"message":"no"}}`, KindResponse, `"q"`, "", ""},
		{"error with null id", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}}`, KindResponse, "null", "", ""},
		{"unknown members dropped", `{"jsonrpc":"2.0","id":1,"method":"m","x-extra":true}`, KindRequest, "1", "m", `{"jsonrpc":"2.0","id":1,"method":"m"}`},
		{"escaped member names", `{"json\u0072pc":"2.0","id":1,"\u006dethod":"m"}`, KindRequest, "1", "m", `{"jsonrpc":"2.0","id":1,"method":"m"}`},
		{"whitespace around", "  {\"jsonrpc\":\"2.0\",\"method\":\"m\"}\t", KindNotification, "", "m", ""},
		{"whitespace inside", "{ \"jsonrpc\" :\r\"2.0\",\n\"method\":\"m\", \"params\" : { \"a\" : [ 1 , 2 ] } }", KindNotification, "", "m", `{"jsonrpc":"2.0","method":"m","params":{"a":[1,2]}}`},
		{"members reordered", `{"params":{},"method":"m","id":"x","jsonrpc":"2.0"}`, KindRequest, `"x"`, "m", `{"jsonrpc":"2.0","id":"x","method":"m","params":{}}`},
		{"line breaks escaped", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"s\":\"a\u0085b\u2028c\u2029d\\r\\ne\"}}", KindNotification, "", "m", `{"jsonrpc":"2.0","method":"m","params":{"s":"a\u0085b\u2028c\u2029d\r\ne"}}`},
		{"escapes decoded", `{"jsonrpc":"2.0","method":"m","params":{"p":"\u0061\/b"}}`, KindNotification, "", "m", `{"jsonrpc":"2.0","method":"m","params":{"p":"a/b"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.in), lim)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if f.Batch || len(f.Items) != 1 || f.Items[0].Err != nil {
				t.Fatalf("frame = %+v", f)
			}
			m := f.Items[0].Msg
			if m.Kind != tt.kind || string(m.ID) != tt.id || m.Method != tt.method {
				t.Errorf("got kind %v id %s method %q; want %v %s %q", m.Kind, m.ID, m.Method, tt.kind, tt.id, tt.method)
			}
			// What is passed on is toolgate's encoding of the members read.
			want := tt.raw
			if want == "" {
				want = strings.TrimSpace(tt.in)
			}
			if string(m.Raw) != want {
				t.Errorf("Raw = %s, want %s", m.Raw, want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	deep := strings.Repeat("[", 17) + strings.Repeat("]", 17)
	tests := []struct {
		name, in string
		code     int
		id       string // the id the error must carry ("" = null)
		contains string
	}{
		{"not JSON", `hello`, CodeParseError, "", "invalid JSON"},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"x"`, CodeParseError, "", "invalid JSON"},
		{"two values", `{"jsonrpc":"2.0","method":"x"} {}`, CodeParseError, "", "invalid JSON"},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"p\":\"\xff\"}}", CodeParseError, "", "invalid JSON"},
		{"empty", ``, CodeParseError, "", "invalid JSON"},
		{"not an object", `"x"`, CodeInvalidRequest, "", "must be an object"},
		{"null", `null`, CodeInvalidRequest, "", "must be an object"},
		{"no version", `{"id":1,"method":"x"}`, CodeInvalidRequest, "1", `"jsonrpc" must be "2.0"`},
		{"wrong version", `{"jsonrpc":"1.0","id":1,"method":"x"}`, CodeInvalidRequest, "1", `"jsonrpc"`},
		{"numeric version", `{"jsonrpc":2.0,"id":1,"method":"x"}`, CodeInvalidRequest, "1", `"jsonrpc"`},
		{"method not string", `{"jsonrpc":"2.0","id":1,"method":5}`, CodeInvalidRequest, "1", `"method" must be a string`},
		{"null id request", `{"jsonrpc":"2.0","id":null,"method":"x"}`, CodeInvalidRequest, "", "string or an integer"},
		{"fraction id", `{"jsonrpc":"2.0","id":1.5,"method":"x"}`, CodeInvalidRequest, "", "string or an integer"},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"x"}`, CodeInvalidRequest, "", "string or an integer"},
		{"huge id", `{"jsonrpc":"2.0","id":1e300,"method":"x"}`, CodeInvalidRequest, "", "string or an integer"},
		{"params scalar", `{"jsonrpc":"2.0","id":1,"method":"x","params":3}`, CodeInvalidRequest, "1", `"params"`},
		{"request and response", `{"jsonrpc":"2.0","id":1,"method":"x","result":{}}`, CodeInvalidRequest, "1", "both"},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, CodeInvalidRequest, "1", "exactly one"},
		{"response without id", `{"jsonrpc":"2.0","result":{}}`, CodeInvalidRequest, "", `"id"`},
		{"error not object", `{"jsonrpc":"2.0","id":1,"error":"bad"}`, CodeInvalidRequest, "1", `"error" must be an object`},
		{"nothing", `{"jsonrpc":"2.0","id":1}`, CodeInvalidRequest, "1", `"method"`},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping"}`, CodeInvalidRequest, "1", `"method" appears twice`},
		{"duplicate, escaped", `{"jsonrpc":"2.0","id":1,"method":"a","m\u0065thod":"b"}`, CodeInvalidRequest, "1", "appears twice"},
		{"duplicate argument", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"r","arguments":{"path":"/ok","path":"/etc/passwd"}}}`, CodeInvalidRequest, "2", `"path" appears twice`},
		{"too deep", `{"jsonrpc":"2.0","id":9,"method":"x","params":{"a":` + deep + `}}`, CodeInvalidRequest, "9", "nested deeper"},
		{"empty batch", `[]`, CodeInvalidRequest, "", "empty batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.in), lim)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", f)
			}
			if err.Code != tt.code || !strings.Contains(err.Message, tt.contains) {
				t.Errorf("error = %d %q; want %d containing %q", err.Code, err.Message, tt.code, tt.contains)
			}
			if string(err.ID) != tt.id {
				t.Errorf("error id = %s; want %q", err.ID, tt.id)
			}
			// The response is valid JSON-RPC and carries the id or null.
			var resp map[string]json.RawMessage
			if e := json.Unmarshal(err.Response(), &resp); e != nil {
				t.Fatalf("response is not JSON: %s", err.Response())
			}
			wantID := tt.id
			if wantID == "" {
				wantID = "null"
			}
			if string(resp["id"]) != wantID || string(resp["jsonrpc"]) != `"2.0"` || resp["error"] == nil {
				t.Errorf("response = %s", err.Response())
			}
		})
	}
}

func TestParseRefusesNamesRepeatedInAnotherCase(t *testing.T) {
	// A server that matches names case-insensitively (Go's encoding/json
	// does, last one wins) would act on a member toolgate did not judge.
	for _, in := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","Method":"ping"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","NAME":"delete_file"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"r","arguments":{"path":"/ok","Path":"/etc/passwd"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"r","arguments":{"a":{"b":[{"key":1,"KEY":2}]}}}}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"k\":1,\"\u212a\":2}}", // Kelvin sign folds to k
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"n\u0041me":1,"name":2}}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"a10":0,"a11":1,"a12":2,"a13":3,"a14":4,"a15":5,"a16":6,"a17":7,"A3":3}}`,
	} {
		_, err := Parse([]byte(in), lim)
		if err == nil || err.Code != CodeInvalidRequest || !strings.Contains(err.Message, "appears twice") || string(err.ID) != "1" {
			t.Errorf("Parse(%s) = %v; want invalid request naming the repeated member", in, err)
		}
	}
	// The same names in different objects, or differing in more than case,
	// are fine.
	ok := `{"jsonrpc":"2.0","id":1,"method":"x","params":{"name":{"name":1},"Names":2,"a":[{"k":1},{"K":2}]}}`
	if _, err := Parse([]byte(ok), lim); err != nil {
		t.Errorf("Parse(%s): %v", ok, err)
	}
}

func TestParseSize(t *testing.T) {
	msg := `{"jsonrpc":"2.0","id":42,"method":"x","params":{"p":"` + strings.Repeat("a", 200) + `"}}`
	_, err := Parse([]byte(msg), Limits{MaxBytes: 100, MaxDepth: 8})
	if err == nil || err.Code != CodeInvalidRequest || string(err.ID) != "42" || !strings.Contains(err.Message, "larger than the limit of 100 bytes") {
		t.Fatalf("err = %+v", err)
	}
}

func TestParseBatch(t *testing.T) {
	in := `[{"jsonrpc":"2.0","id":1,"method":"a"}, 5, {"jsonrpc":"2.0","method":"n"}, {"jsonrpc":"2.0","id":{},"method":"b"}]`
	f, err := Parse([]byte(in), lim)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Batch || len(f.Items) != 4 {
		t.Fatalf("frame = %+v", f)
	}
	if f.Items[0].Msg == nil || f.Items[0].Msg.Method != "a" || string(f.Items[0].Msg.Raw) != `{"jsonrpc":"2.0","id":1,"method":"a"}` {
		t.Errorf("item 0 = %+v", f.Items[0])
	}
	if f.Items[1].Err == nil || f.Items[1].Err.Code != CodeInvalidRequest {
		t.Errorf("item 1 = %+v", f.Items[1])
	}
	if f.Items[2].Msg == nil || f.Items[2].Msg.Kind != KindNotification {
		t.Errorf("item 2 = %+v", f.Items[2])
	}
	if f.Items[3].Err == nil {
		t.Errorf("item 3 = %+v", f.Items[3])
	}
}

func TestParseWithoutStructureCheck(t *testing.T) {
	// The server's messages are routed, not judged: no depth walk.
	deep := `{"jsonrpc":"2.0","id":1,"result":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	if _, err := Parse([]byte(deep), Limits{MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse([]byte(`{"jsonrpc":"2.0","id":1,"result":{}`), Limits{MaxBytes: 1 << 20}); err == nil || err.Code != CodeParseError {
		t.Fatalf("err = %v", err)
	}
}

func TestIDKey(t *testing.T) {
	same := [][]string{
		{`1`, `1.0`, `1e0`, ` 1 `, `10e-1`},
		{`"1"`},
		{`-3`, `-3.0`},
		{`9007199254740992`},
		{`"\u0061"`, `"a"`},
	}
	keys := map[string]int{}
	for i, group := range same {
		for _, id := range group {
			k, err := IDKey(json.RawMessage(id))
			if err != nil {
				t.Fatalf("IDKey(%s): %v", id, err)
			}
			if j, ok := keys[k]; ok && j != i {
				t.Errorf("IDKey(%s) = %q collides with group %d", id, k, j)
			}
			keys[k] = i
		}
	}
	if len(keys) != len(same) {
		t.Errorf("keys = %v; want one per group", keys)
	}
	for _, bad := range []string{`null`, `true`, `{}`, `[]`, `1.5`, `1e300`, `"`, ``} {
		if k, err := IDKey(json.RawMessage(bad)); err == nil {
			t.Errorf("IDKey(%s) = %q, want an error", bad, k)
		}
	}
}

func TestRecoverID(t *testing.T) {
	tests := []struct {
		in     string
		id     string
		isCall bool
	}{
		{`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"a":"xxxx`, "5", true},
		{`{"id":"s","result":{"big":[1,2,`, `"s"`, false},
		{`{"method":"x","params":{"a":"xxxxxxx`, "", true},
		{`{"params":{"a":"xxxxxxx`, "", false}, // id would come last
		{`[{"id":1}]`, "", false},
		{`{"id":{"a":1},"method":"m"}`, "", true},
	}
	for _, tt := range tests {
		id, isCall := RecoverID([]byte(tt.in))
		if string(id) != tt.id || isCall != tt.isCall {
			t.Errorf("RecoverID(%s) = %s, %v; want %s, %v", tt.in, id, isCall, tt.id, tt.isCall)
		}
	}
}

func TestErrorResponse(t *testing.T) {
	got := string(ErrorResponse(nil, CodeInvalidRequest, "bad <thing>", map[string]int{"limit": 3}))
	want := `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad \u003cthing\u003e","data":{"limit":3}}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Data that cannot be encoded is dropped, the answer is not.
	got = string(ErrorResponse(json.RawMessage(`7`), CodeInternalError, "x", func() {}))
	if got != `{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"x"}}` {
		t.Errorf("got %s", got)
	}
}
