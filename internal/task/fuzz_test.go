package task

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/keys"
)

func fuzzTokens(f *testing.F) *keys.Tokens {
	kp, err := keys.OpenFile(f.TempDir(), keys.Config{}, keys.FileOptions{})
	if err != nil {
		f.Fatal(err)
	}
	return keys.NewTokens(kp, "toolgate")
}

// FuzzParseToken: arbitrary bytes as a task token never panic and are never
// accepted (nothing the fuzzer makes carries this key's signature, so every
// input must be rejected with a task code).
func FuzzParseToken(f *testing.F) {
	tk := fuzzTokens(f)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoidG9vbGdhdGUtdGFzaytqd3QifQ.e30.")
	f.Add("eyJhbGciOiJFZERTQSIsInR5cCI6InRvb2xnYXRlLXRhc2srand0Iiwia2lkIjoieCJ9.e30.AAAA")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseToken(context.Background(), tk, raw, DefaultMaxDepth)
		if err == nil {
			t.Fatalf("accepted an unsigned token: %+v", c)
		}
		if !strings.HasPrefix(codeOf(err), "task.") {
			t.Fatalf("error without a task code: %v", err)
		}
	})
}

// FuzzClaims: arbitrary JSON claims, validly signed, must either be
// rejected or describe a consistent chain whose scopes compile. This is the
// parser behind the signature: it must not trust what it is given.
func FuzzClaims(f *testing.F) {
	tk := fuzzTokens(f)
	exp := time.Now().Add(time.Hour).Unix()
	f.Add([]byte(`{"aud":"toolgate","sub":"a","jti":"t1","task":{"id":"t1","depth":0,"hops":[{"id":"t1","agent":"a","scope":{"tools":["fs/*"]}}]}}`))
	f.Add([]byte(`{"aud":"toolgate","sub":"a","jti":"t2","act":{"sub":"b"},"task":{"id":"t2","depth":1,"hops":[{"id":"t1","agent":"a","scope":{"tools":["*"]}},{"id":"t2","agent":"b","scope":{"cedar":"permit(principal,action,resource);"},"budget":{"total":3}}]}}`))
	f.Add([]byte(`{"aud":"toolgate","sub":"a","jti":"t2","act":{"sub":"b","act":{"sub":"c"}},"task":{"id":"t2","depth":1,"hops":[]}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var m map[string]any
		if json.Unmarshal(payload, &m) != nil || m == nil {
			return
		}
		m["iss"], m["exp"] = "toolgate", exp
		raw, err := tk.Sign(context.Background(), TokenType, m)
		if err != nil {
			return
		}
		c, err := ParseToken(context.Background(), tk, raw, DefaultMaxDepth)
		if err != nil {
			if !strings.HasPrefix(codeOf(err), "task.") {
				t.Fatalf("error without a task code: %v", err)
			}
			return
		}
		if len(c.Chain()) != c.Task.Depth+1 || c.Actor() != c.Chain()[0] || c.Current().ID != c.ID {
			t.Fatalf("inconsistent accepted claims: %+v", c)
		}
		for i := range c.Task.Hops {
			if _, err := c.Task.Hops[i].Scope.Compile("t", "fuzz"); err != nil && len(c.Task.Hops[i].Scope.Tools) > 0 && c.Task.Hops[i].Scope.Cedar == "" {
				t.Fatalf("a valid tool scope does not compile: %v\n%s", err, c.Task.Hops[i].Scope.CedarText())
			}
		}
	})
}

// FuzzScope: every scope that validates compiles (the generated Cedar
// always parses, whatever the names and values), and is within itself.
func FuzzScope(f *testing.F) {
	f.Add([]byte(`{"tools":["fs/read_file",{"tool":"db/query","where":{"limit":{"max":10},"db":{"in":["a","b"]}}}]}`))
	f.Add([]byte(`{"tools":[{"tool":"x/y","where":{"a\"b":{"prefix":"\\*\u0000"},"p":{"under":"/w/"}}}]}`))
	f.Add([]byte(`{"cedar":"permit(principal, action in Action::\"fs\", resource);"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseScope(b)
		if err != nil {
			return
		}
		if len(s.Tools) > 0 {
			tools := Scope{Tools: s.Tools}
			if _, err := tools.Compile("t", "fuzz"); err != nil {
				t.Fatalf("valid tool rules do not compile: %v\n%s", err, tools.CedarText())
			}
			if ex, err := Excess(&tools, &tools); err != nil || len(ex) > 0 {
				t.Fatalf("a scope is not within itself: %v %v", ex, err)
			}
		}
	})
}
