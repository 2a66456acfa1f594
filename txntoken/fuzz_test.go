package txntoken_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/txntoken"
)

// FuzzVerify feeds arbitrary tokens, tools and arguments to the verifier:
// it must never panic, and must accept nothing but a token it was given a
// signature for (the seeds include valid tokens; mutations of them must
// not verify). Seeds: testdata/fuzz/FuzzVerify and the corpus below.
func FuzzVerify(f *testing.F) {
	s := newSigner(f, jose.EdDSA)
	valid := s.sign(f, txntoken.Type, claims(`{"text":"hi"}`))
	f.Add(valid, "echo", `{"text":"hi"}`)
	f.Add(valid+"x", "echo", `{"text":"hi"}`)
	f.Add(strings.Replace(valid, ".", "..", 1), "echo", `{}`)
	f.Add("eyJhbGciOiJub25lIn0.e30.", "echo", `null`)
	f.Add("a.b.c", "", ``)
	f.Fuzz(func(t *testing.T, token, tool, args string) {
		v := verifier(t, s)
		c, err := v.Verify(context.Background(), token, tool, json.RawMessage(args))
		if err == nil {
			// Only the untouched seed token verifies (and only for its call).
			if token != valid || c.Context.Tool != tool {
				t.Fatalf("verified a token that was not signed for this call: %q", token)
			}
		}
	})
}

// FuzzMiddleware feeds arbitrary request bodies to the middleware: no
// panic, and nothing that any JSON parser could read as a tools/call
// reaches the server without a token.
func FuzzMiddleware(f *testing.F) {
	s := newSigner(f, jose.EdDSA)
	v := verifier(f, s)
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":1,"Method":"tools/call"}`,
		`{"method":"tools\/call"}`,
		``, `[`, `{"method":1}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		reached := false
		h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		h.ServeHTTP(httptest.NewRecorder(), r)
		if !reached {
			return
		}
		// It reached the server without a token: Go's decoder (which
		// matches keys without regard to case) must not see a call in it.
		var one struct{ Method string }
		if json.Unmarshal([]byte(body), &one) == nil && one.Method == "tools/call" {
			t.Fatalf("a tools/call passed without a token: %q", body)
		}
		var batch []struct{ Method string }
		if json.Unmarshal([]byte(body), &batch) == nil {
			for _, m := range batch {
				if m.Method == "tools/call" {
					t.Fatalf("a batched tools/call passed without a token: %q", body)
				}
			}
		}
	})
}
