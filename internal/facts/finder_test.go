package facts_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/facts"
	_ "github.com/toolgate/toolgate/internal/facts/all"
)

func find(t *testing.T, f *facts.Finder, server, tool, input, schema string) map[string]any {
	t.Helper()
	c := &call.Call{Server: call.Server{Name: server}, Tool: call.Tool{Name: tool, InputSchema: json.RawMessage(schema)}, Input: json.RawMessage(input)}
	if err := f.FindFacts(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c.Facts
}

func TestFinder(t *testing.T) {
	root := t.TempDir()
	f, err := facts.NewFinder([]facts.ServerFacts{
		{Name: "db", Tools: map[string]facts.Bindings{"query": {"sql": {"sql"}}}},
		{Name: "fs", Config: facts.ServerConfig{Roots: []string{root}}, Tools: map[string]facts.Bindings{
			"move": {"path": {"source", "destination"}},
			"read": {"path": {"paths", "opts.base"}},
		}},
		{Name: "web", Config: facts.ServerConfig{Auto: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sql := find(t, f, "db", "query", `{"sql": "DROP TABLE users"}`, "")["sql"].(facts.Facts)
	if sql["destructive"] != true {
		t.Fatalf("sql facts %v", sql)
	}
	if got := find(t, f, "db", "other", `{"sql": "DROP TABLE users"}`, ""); got != nil {
		t.Fatalf("unbound tool got facts %v", got)
	}
	if got := find(t, f, "db", "query", `{"limit": 3}`, ""); got != nil {
		t.Fatalf("absent argument got facts %v", got)
	}
	move := find(t, f, "fs", "move", `{"source": "`+root+`/a", "destination": "/etc/passwd"}`, "")["path"].(facts.Facts)
	if move["inside"] != false {
		t.Fatalf("one path outside: merged inside must be false: %v", move)
	}
	read := find(t, f, "fs", "read", `{"paths": ["`+root+`/a", "`+root+`/b"], "opts": {"base": "`+root+`"}}`, "")["path"].(facts.Facts)
	if read["inside"] != true {
		t.Fatalf("all inside: %v", read)
	}
	// A bound argument that is not text has every field of the
	// classifier, with the fail-safe values.
	for _, in := range []string{`{"sql": 42}`, `{"sql": {"a": 1}}`, `{"sql": true}`, `{"sql": ["SELECT 1", 7]}`} {
		bad := find(t, f, "db", "query", in, "")["sql"].(facts.Facts)
		if bad["parse_error"] != true || !strings.Contains(bad["error"].(string), "not a string") || bad["destructive"] != true {
			t.Fatalf("non-string argument %s: %v", in, bad)
		}
		for k := range facts.Unanalysed("sql", "") {
			if _, ok := bad[k]; !ok {
				t.Errorf("non-string argument %s: field %s missing in %v", in, k, bad)
			}
		}
	}
	for _, in := range []string{`{"source": 1, "destination": "a"}`, `{"source": ["a", 1], "destination": "a"}`} {
		p := find(t, f, "fs", "move", in, "")["path"].(facts.Facts)
		if p["parse_error"] != true || p["inside"] != false || p["sensitive"] != true {
			t.Fatalf("non-string path %s: %v", in, p)
		}
		for k := range facts.Unanalysed("path", "") {
			if _, ok := p[k]; !ok {
				t.Errorf("non-string path %s: field %s missing in %v", in, k, p)
			}
		}
	}
	auto := find(t, f, "web", "fetch", `{"url": "http://169.254.169.254/latest", "note": "x"}`, `{"properties": {"url": {"type": "string"}}}`)
	if u := auto["url"].(facts.Facts); u["ip_class"] != "metadata" {
		t.Fatalf("auto-bound url: %v", auto)
	}
	if got := find(t, f, "unknown", "t", `{"sql": "DROP TABLE x"}`, ""); got != nil {
		t.Fatalf("servers not configured get no auto binding: %v", got)
	}
}

func TestFinderConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		s    facts.ServerFacts
		want string
	}{
		{facts.ServerFacts{Name: "db", Tools: map[string]facts.Bindings{"q": {"sqll": {"sql"}}}}, `unknown classifier "sqll"`},
		{facts.ServerFacts{Name: "db", Tools: map[string]facts.Bindings{"q": {"sql": nil}}}, "names no argument"},
		{facts.ServerFacts{Name: "db", Config: facts.ServerConfig{SQLDialect: "oracle"}}, "oracle"},
	} {
		if _, err := facts.NewFinder([]facts.ServerFacts{tt.s}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}
