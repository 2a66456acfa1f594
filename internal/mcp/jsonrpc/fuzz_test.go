package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; what it accepts it passes on as its own
// encoding, which any server reads the same way: valid JSON on one line for
// every line splitter, no member name repeated in any letter case, a valid id
// for every request, the same meaning as the input, and a fixed point (the
// encoding parses to itself). What it rejects gets a valid JSON-RPC error
// response. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/a"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
		`{"jsonrpc":"2.0","id":"x","result":{"tools":[]}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}`,
		`{"jsonrpc":"2.0","id":1.0e0,"method":"a"}`,
		`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":{\"s\":\"x\u0085\u2028\u2029\\r\\n\"}}}",
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","NAME":"delete_file"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"toolgate\/txn-token":"x"}}}`,
		"{ \"jsonrpc\" : \"2.0\" ,\r\"method\":\"tools/call\"\t, \"x\":1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxBytes: 4096, MaxDepth: 16}
		fr, perr := Parse(data, lim)
		if perr != nil {
			checkErrorResponse(t, perr)
			return
		}
		if !fr.Batch && len(fr.Items) != 1 {
			t.Fatalf("single message read as %d", len(fr.Items))
		}
		for _, it := range fr.Items {
			if it.Err != nil {
				checkErrorResponse(t, it.Err)
				continue
			}
			m := it.Msg
			if !json.Valid(m.Raw) {
				t.Fatalf("accepted invalid JSON %q", m.Raw)
			}
			checkCanonical(t, m, lim)
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(m.Raw, &fields); err != nil {
				t.Fatalf("accepted a non-object: %q", m.Raw)
			}
			switch m.Kind {
			case KindRequest, KindNotification:
				var method string
				if json.Unmarshal(fields["method"], &method) != nil || method != m.Method {
					t.Fatalf("method %q, but the message says %s", m.Method, fields["method"])
				}
				if m.Kind == KindRequest {
					if _, err := IDKey(m.ID); err != nil {
						t.Fatalf("request with invalid id %s", m.ID)
					}
				}
			case KindResponse:
				if (m.Result == nil) == (m.Error == nil) {
					t.Fatalf("response with result %s and error %s", m.Result, m.Error)
				}
			default:
				t.Fatalf("kind %v", m.Kind)
			}
		}
	})
}

// lineBreaks is every character some line reader ends a line at (Python's
// str.splitlines is the widest).
const lineBreaks = "\n\r\v\f\x1c\x1d\x1e\u0085\u2028\u2029"

// checkCanonical: m.Raw is on one line for every reader, a fixed point of
// Parse, and means what m's members say.
func checkCanonical(t *testing.T, m *Message, lim Limits) {
	t.Helper()
	if strings.ContainsAny(string(m.Raw), lineBreaks) {
		t.Fatalf("re-encoded message holds a line break: %q", m.Raw)
	}
	again, err := Parse(m.Raw, lim)
	if err != nil || again.Batch || len(again.Items) != 1 || again.Items[0].Msg == nil {
		t.Fatalf("re-encoded message %q does not parse: %v", m.Raw, err)
	}
	if a := again.Items[0].Msg; !bytes.Equal(a.Raw, m.Raw) || a.Kind != m.Kind || a.Method != m.Method {
		t.Fatalf("not a fixed point: %q -> %q", m.Raw, a.Raw)
	}
	var fields map[string]any
	if err := json.Unmarshal(m.Raw, &fields); err != nil {
		t.Fatal(err)
	}
	same := func(name string, raw json.RawMessage) {
		var want any
		if raw != nil {
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
		}
		got, ok := fields[name]
		if raw == nil && ok || raw != nil && fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("member %q is %v in %q, want %v", name, got, m.Raw, want)
		}
	}
	same("params", m.Params)
	same("result", m.Result)
	same("error", m.Error)
	same("id", m.ID)
	for name := range fields {
		if !strings.Contains(" jsonrpc id method params result error ", " "+name+" ") {
			t.Fatalf("member %q passed on", name)
		}
	}
}

func checkErrorResponse(t *testing.T, e *Error) {
	t.Helper()
	var resp struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(e.Response(), &resp); err != nil || resp.JSONRPC != "2.0" || resp.Error == nil || resp.Error.Message == "" {
		t.Fatalf("bad error response %s", e.Response())
	}
	if string(resp.ID) != "null" {
		if _, err := IDKey(resp.ID); err != nil {
			t.Fatalf("error response with invalid id %s", resp.ID)
		}
	}
}

// FuzzReader: the reader returns exactly the non-blank lines of its input,
// each without its line ending, and reports (and skips) each line longer
// than the limit without losing the lines around it. Seeds:
// testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nb\r\n\n c \n"), uint16(4))
	f.Add([]byte("0123456789\n01234567890\n"), uint16(10))
	f.Add([]byte("x\r"), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		lim := int(limit%64) + 1
		var want []string
		for i, l := range strings.Split(string(data), "\n") {
			last := i == strings.Count(string(data), "\n")
			if !last {
				l = strings.TrimSuffix(l, "\r")
			}
			if len(l) > lim {
				want = append(want, "!")
				continue
			}
			if strings.TrimSpace(l) == "" {
				continue
			}
			want = append(want, l)
		}
		var got []string
		r := NewReader(bytes.NewReader(data), lim)
		for {
			l, err := r.Next()
			if err == io.EOF {
				break
			}
			var tl *TooLargeError
			if errors.As(err, &tl) {
				if tl.Size <= lim || len(tl.Prefix) > lim {
					t.Fatalf("TooLargeError %+v for limit %d", tl, lim)
				}
				got = append(got, "!")
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(l))
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("input %q limit %d:\n got %q\nwant %q", data, lim, got, want)
		}
	})
}

// FuzzParseMatchesReference: Parse decides exactly as the implementation it
// replaced (reference_test.go: a token walk keeping names as strings and an
// encoding/json decode of the envelope), with and without the structure
// check: the same messages refused with the same codes, the same messages
// accepted with the same members and the same encoding. Seeds: FuzzParse's.
func FuzzParseMatchesReference(f *testing.F) {
	seeds, _ := filepathGlobSeeds("testdata/fuzz/FuzzParse")
	for _, s := range seeds {
		f.Add(s)
	}
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","Name":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"\u006eame":"a","NAME":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"k":"a","\u212a":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"t\u00e9","params":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"Q":18}}`,
		`{"jsonrpc":"2.0","id":1,"id":2,"method":"a"}`,
		`{"jsonrpc":"2.0","\u0069d":1,"method":"a"}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\xff\"}",
		`null`, `[]`, `"x"`, `{"jsonrpc":"2.0","id":1,"method":"a"} {}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{{MaxBytes: 4096, MaxDepth: 16}, {MaxBytes: 4096}} {
			got, gerr := Parse(data, lim)
			want, werr := refParse(data, lim)
			if (gerr == nil) != (werr == nil) {
				t.Fatalf("%+v: Parse error %v, reference error %v", lim, gerr, werr)
			}
			if gerr != nil {
				if gerr.Code != werr.Code || string(gerr.ID) != string(werr.ID) {
					t.Fatalf("%+v: Parse error %d %s %q, reference %d %s %q", lim, gerr.Code, gerr.ID, gerr.Message, werr.Code, werr.ID, werr.Message)
				}
				continue
			}
			if got.Batch != want.Batch || len(got.Items) != len(want.Items) {
				t.Fatalf("%+v: frame %+v, reference %+v", lim, got, want)
			}
			for i := range got.Items {
				g, w := got.Items[i], want.Items[i]
				if (g.Err == nil) != (w.Err == nil) || g.Err != nil && (g.Err.Code != w.Err.Code || string(g.Err.ID) != string(w.Err.ID)) {
					t.Fatalf("%+v: item %d error %v, reference %v", lim, i, g.Err, w.Err)
				}
				if g.Msg == nil {
					continue
				}
				gm, wm := *g.Msg, *w.Msg
				if gm.Kind != wm.Kind || gm.Method != wm.Method || !bytes.Equal(gm.Raw, wm.Raw) || !bytes.Equal(gm.ID, wm.ID) ||
					!bytes.Equal(gm.Params, wm.Params) || !bytes.Equal(gm.Result, wm.Result) || !bytes.Equal(gm.Error, wm.Error) {
					t.Fatalf("%+v: item %d\n got  %+v\n want %+v", lim, i, gm, wm)
				}
			}
		}
	})
}

// filepathGlobSeeds reads the corpus files of a fuzz test (go test's
// format: a header line, then one []byte("…") line).
func filepathGlobSeeds(dir string) ([][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			continue
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			continue
		}
		out = append(out, []byte(s))
	}
	return out, nil
}
