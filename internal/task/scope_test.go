package task

import (
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/policy"
)

func mustScope(t *testing.T, js string) Scope {
	t.Helper()
	s, err := ParseScope([]byte(js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return s
}

func decide(t *testing.T, set *policy.Set, action, input string) call.Effect {
	t.Helper()
	server, tool, _ := strings.Cut(action, "/")
	c := &call.Call{Principal: call.Principal{Kind: call.KindAgent, ID: "a"}, Server: call.Server{Name: server}, Tool: call.Tool{Name: tool}, Input: []byte(input)}
	r, err := policy.NewRequest(c, nil, cedarjson.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return policy.Decide(r, set).Effect
}

// Tool rules compile to Cedar that allows exactly what the rules say.
func TestScopeCompiles(t *testing.T) {
	s := mustScope(t, `{"tools": [
		"fs/read_file",
		"git/*",
		{"tool": "fs/search_files", "where": {"path": {"under": "/workspace/"}}},
		{"tool": "db/query", "where": {"database": {"in": ["analytics", "reports"]}, "limit": {"min": 1, "max": 100}}},
		{"tool": "web/fetch", "where": {"url": {"prefix": "https://docs.example.com/*"}, "follow": {"equals": false}}}
	]}`)
	set, err := s.Compile("task:t1", "scope")
	if err != nil {
		t.Fatalf("%v\n%s", err, s.CedarText())
	}
	cases := []struct {
		action, input string
		want          call.Effect
	}{
		{"fs/read_file", `{"path": "/etc/passwd"}`, call.Allow},
		{"fs/write_file", `{}`, call.Deny},
		{"git/status", `{}`, call.Allow},
		{"gitx/status", `{}`, call.Deny},
		{"fs/search_files", `{"path": "/workspace"}`, call.Allow},
		{"fs/search_files", `{"path": "/workspace/src/a.go"}`, call.Allow},
		{"fs/search_files", `{"path": "/workspace2"}`, call.Deny},
		{"fs/search_files", `{"path": "/workspace/../etc"}`, call.Deny},
		{"fs/search_files", `{"path": "/workspace/.."}`, call.Deny},
		{"fs/search_files", `{"path": "/workspace/..hidden"}`, call.Allow},
		{"fs/search_files", `{}`, call.Deny},
		{"fs/search_files", `{"path": 7}`, call.Deny}, // a type error does not permit
		{"db/query", `{"database": "analytics", "limit": 100}`, call.Allow},
		{"db/query", `{"database": "analytics", "limit": 101}`, call.Deny},
		{"db/query", `{"database": "analytics", "limit": 0}`, call.Deny},
		{"db/query", `{"database": "prod", "limit": 5}`, call.Deny},
		{"db/query", `{"database": "reports"}`, call.Deny},
		// The * in the prefix is a literal star, not a wildcard.
		{"web/fetch", `{"url": "https://docs.example.com/*x", "follow": false}`, call.Allow},
		{"web/fetch", `{"url": "https://docs.example.com/x", "follow": false}`, call.Deny},
		{"web/fetch", `{"url": "https://docs.example.com/*x", "follow": true}`, call.Deny},
	}
	for _, tc := range cases {
		if got := decide(t, set, tc.action, tc.input); got != tc.want {
			t.Errorf("%s %s: %s, want %s\n%s", tc.action, tc.input, got, tc.want, s.CedarText())
		}
	}
}

// Hostile argument names and values stay string literals.
func TestScopeQuoting(t *testing.T) {
	s := mustScope(t, `{"tools": [{"tool": "x/y", "where": {
		"a\"b": {"equals": "\" || true || \""},
		"c\\": {"prefix": "\\\n\t\u0001*"},
		"δ": {"in": ["\u007f", 3, true]}}}]}`)
	set, err := s.Compile("t", "scope")
	if err != nil {
		t.Fatalf("%v\n%s", err, s.CedarText())
	}
	if got := decide(t, set, "x/y", `{"a\"b": "anything", "c\\": "\\\n\t\u0001*z", "δ": 3}`); got != call.Deny {
		t.Fatalf("injection: %s", got)
	}
	if got := decide(t, set, "x/y", `{"a\"b": "\" || true || \"", "c\\": "\\\n\t\u0001*z", "δ": 3}`); got != call.Allow {
		t.Fatalf("exact values: %s\n%s", got, s.CedarText())
	}
}

func TestScopeValidation(t *testing.T) {
	for _, js := range []string{
		`{}`,
		`{"tools": []}`,
		`{"tools": ["fs"]}`,
		`{"tools": ["fs/*x"]}`,
		`{"tools": ["CallTool/x"]}`,
		`{"tools": [{"tool": "fs/x", "where": {"p": {}}}]}`,
		`{"tools": [{"tool": "fs/x", "where": {"p": {"under": "rel"}}}]}`,
		`{"tools": [{"tool": "fs/x", "where": {"p": {"under": "/a/../b"}}}]}`,
		`{"tools": [{"tool": "fs/x", "where": {"p": {"equals": 1.5}}}]}`,
		`{"tools": [{"tool": "fs/x", "where": {"p": {"equals": {"a": 1}}}}]}`,
		`{"tools": [{"tool": "fs/x", "where": {"p": {"min": 5, "max": 1}}}]}`,
		`{"tools": [{"tool": "fs/x", "where": {"p": {"prefix": ""}}}]}`,
		`{"tools": [{"tool": "fs/x", "bogus": 1}]}`,
		`{"tool": ["fs/x"]}`,
	} {
		if _, err := ParseScope([]byte(js)); err == nil {
			t.Errorf("accepted %s", js)
		}
	}
	// Cedar that does not parse is caught at compile time.
	s := Scope{Cedar: "permit(principal, action, resource) when { oops };"}
	if _, err := s.Compile("t", "x"); err == nil {
		t.Error("bad cedar compiled")
	}
}

func TestExcess(t *testing.T) {
	parent := mustScope(t, `{"tools": [
		"fs/*",
		"web/fetch",
		{"tool": "db/query", "where": {"database": {"in": ["analytics", "reports"]}, "limit": {"max": 100}}},
		{"tool": "files/read", "where": {"path": {"under": "/workspace"}}},
		{"tool": "http/get", "where": {"url": {"prefix": "https://"}}}
	]}`)
	cases := []struct {
		name, child string
		excess      string // "" = within
	}{
		{"same", `{"tools": ["fs/*", "web/fetch"]}`, ""},
		{"one tool of a server", `{"tools": ["fs/read_file"]}`, ""},
		{"another server", `{"tools": ["mail/send"]}`, "tools[0] mail/send"},
		{"every tool", `{"tools": ["*"]}`, "tools[0] *"},
		{"narrower in", `{"tools": [{"tool": "db/query", "where": {"database": {"equals": "analytics"}, "limit": {"max": 10}}}]}`, ""},
		{"wider in", `{"tools": [{"tool": "db/query", "where": {"database": {"in": ["analytics", "prod"]}, "limit": {"max": 10}}}]}`, `argument "database"`},
		{"dropped constraint", `{"tools": [{"tool": "db/query", "where": {"database": {"equals": "analytics"}}}]}`, `constrains argument "limit"`},
		{"higher max", `{"tools": [{"tool": "db/query", "where": {"database": {"equals": "reports"}, "limit": {"max": 1000}}}]}`, "max 100"},
		{"fixed limit within max", `{"tools": [{"tool": "db/query", "where": {"database": {"equals": "reports"}, "limit": {"in": [1, 50]}}}]}`, ""},
		{"deeper under", `{"tools": [{"tool": "files/read", "where": {"path": {"under": "/workspace/src"}}}]}`, ""},
		{"sibling under", `{"tools": [{"tool": "files/read", "where": {"path": {"under": "/workspace2"}}}]}`, `under "/workspace"`},
		{"prefix is not under", `{"tools": [{"tool": "files/read", "where": {"path": {"prefix": "/workspace/"}}}]}`, `under "/workspace"`},
		{"exact path under", `{"tools": [{"tool": "files/read", "where": {"path": {"equals": "/workspace/a.md"}}}]}`, ""},
		{"longer prefix", `{"tools": [{"tool": "http/get", "where": {"url": {"prefix": "https://docs."}}}]}`, ""},
		{"other prefix", `{"tools": [{"tool": "http/get", "where": {"url": {"prefix": "http://"}}}]}`, `prefix "https://"`},
		{"cedar within", `{"cedar": "permit(principal, action in [Action::\"fs/read_file\", Action::\"fs\"], resource) when { context.task.depth < 3 };"}`, ""},
		{"cedar every action", `{"cedar": "permit(principal, action, resource);"}`, "every tool"},
		{"cedar on a constrained tool", `{"cedar": "permit(principal, action == Action::\"db/query\", resource);"}`, "cannot be shown"},
		{"cedar forbid only narrows", `{"tools": ["fs/read_file"], "cedar": "forbid(principal, action, resource) when { context.input has secret };"}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			child := mustScope(t, tc.child)
			ex, err := Excess(&parent, &child)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(ex, "; ")
			if tc.excess == "" && got != "" {
				t.Fatalf("unexpected excess: %s", got)
			}
			if tc.excess != "" && !strings.Contains(got, tc.excess) {
				t.Fatalf("excess %q does not mention %q", got, tc.excess)
			}
		})
	}
	// A Cedar parent is compared by actions.
	cp := mustScope(t, `{"cedar": "permit(principal, action in Action::\"fs\", resource) when { context.flow.untrusted == false };"}`)
	if ex, _ := Excess(&cp, ptr(mustScope(t, `{"tools": ["fs/read_file", "fs/*"]}`))); len(ex) != 0 {
		t.Fatalf("within a cedar parent: %v", ex)
	}
	if ex, _ := Excess(&cp, ptr(mustScope(t, `{"tools": ["web/fetch"]}`))); len(ex) != 1 {
		t.Fatalf("outside a cedar parent: %v", ex)
	}
}

func ptr[T any](v T) *T { return &v }
