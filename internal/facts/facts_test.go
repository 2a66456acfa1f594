package facts_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/toolgate/toolgate/internal/facts"
	_ "github.com/toolgate/toolgate/internal/facts/all"
)

func TestRegistry(t *testing.T) {
	if got, want := facts.Names(), []string{"path", "shell", "sql", "url"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, n := range facts.Names() {
		t.Run(n, func(t *testing.T) {
			c, err := facts.New(n, facts.Options{Roots: []string{t.TempDir()}})
			if err != nil {
				t.Fatal(err)
			}
			if c.Name() != n {
				t.Errorf("Name() = %q", c.Name())
			}
			f := c.Classify("")
			if _, ok := f["parse_error"].(bool); !ok {
				t.Errorf("no parse_error in %v", f)
			}
			m := facts.Merge(n, []facts.Facts{f, f})
			if _, ok := m["parse_error"].(bool); !ok {
				t.Errorf("merge lost parse_error: %v", m)
			}
		})
	}
	if _, err := facts.New("nope", facts.Options{}); !errors.Is(err, facts.ErrUnknown) {
		t.Errorf("New(nope) error = %v", err)
	}
	if m := facts.Merge("nope", nil); m["parse_error"] != true {
		t.Errorf("Merge(nope) = %v, want parse_error", m)
	}
}

func TestSuggest(t *testing.T) {
	str := map[string]any{"type": "string"}
	cases := []struct {
		name   string
		schema map[string]any
		want   string
	}{
		{"sql", nil, "sql"}, {"query", str, "sql"}, {"statement", nil, "sql"}, {"sqlQuery", nil, "sql"},
		{"command", nil, "shell"}, {"cmd", str, "shell"}, {"script", nil, "shell"}, {"shell_command", nil, "shell"},
		{"path", nil, "path"}, {"file", nil, "path"}, {"filename", nil, "path"}, {"dir", nil, "path"},
		{"directory", nil, "path"}, {"source", nil, "path"}, {"destination", nil, "path"}, {"sourcePath", nil, "path"},
		{"target-file", nil, "path"}, {"paths", map[string]any{"type": "array", "items": str}, "path"},
		{"url", nil, "url"}, {"uri", nil, "url"}, {"endpoint", nil, "url"}, {"link", nil, "url"}, {"targetURL", nil, "url"},
		{"location", map[string]any{"type": "string", "format": "uri"}, "url"},
		{"count", map[string]any{"type": "integer"}, ""}, {"path", map[string]any{"type": "integer"}, ""},
		{"message", str, ""}, {"", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := facts.Suggest(tc.name, tc.schema); got != tc.want {
				t.Errorf("Suggest(%q) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestMergeWith(t *testing.T) {
	rules := facts.Rules{"bad": facts.Any, "ok": facts.All, "set": facts.Union, "n": facts.Sum, "s": facts.Same}
	zero := func() facts.Facts { return facts.Facts{"ok": false} }
	a := facts.Facts{"bad": false, "ok": true, "set": []string{"b", "a"}, "n": int64(1), "s": "x", "parse_error": false}
	b := facts.Facts{"bad": true, "ok": true, "set": []string{"c", "a"}, "n": int64(2), "s": "x", "parse_error": false}
	m := facts.MergeWith(rules, zero, []facts.Facts{a, b})
	if m["bad"] != true || m["ok"] != true || m["n"] != int64(3) || m["s"] != "x" || !slices.Equal(m["set"].([]string), []string{"a", "b", "c"}) {
		t.Errorf("merge = %v", m)
	}
	c := facts.Facts{"s": "y", "parse_error": true, "error": "boom"}
	m = facts.MergeWith(rules, zero, []facts.Facts{a, c})
	if m["ok"] != false || m["s"] != "" || m["error"] != "boom" {
		t.Errorf("merge with missing fields = %v", m)
	}
	if m := facts.MergeWith(rules, zero, nil); m["ok"] != false {
		t.Errorf("empty merge = %v", m)
	}
}
