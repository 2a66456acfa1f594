package policy

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Parse errors are told in words, at the token they are about, with the
// source line and a caret; a missing ";" is reported where the policy
// ends, not at the start of the next one.
func TestParseErrorsInWords(t *testing.T) {
	tests := []struct {
		src     string
		at      string // line:col
		msg     string
		snippet string
	}{
		{"@id(\"a\")\npermit (principal, action, resource)\nwhen { context.input.path lke \"/w/*\" };\n",
			"3:27", "expected an operator or `}` after the expression, found `lke` (did you mean `like`?)",
			"    when { context.input.path lke \"/w/*\" };\n                              ^^^"},
		{"@id(\"b\")\npermit (principal, action, resource)\nwhen { true }\n\n// next\n@id(\"c\")\nforbid (principal, action, resource);\n",
			"3:14", "missing `;` at the end of the policy (every policy ends with `;`)",
			"    when { true }\n                 ^"},
		{"permit (principal, action, resource) when { true } // done\nforbid (principal, action, resource);\n",
			"1:51", "missing `;` at the end of the policy", ""},
		{"permit (principal, action == Action::\"x\" resource);", "1:42", "missing `,` before `resource`",
			"    permit (principal, action == Action::\"x\" resource);\n                                             ^^^^^^^^"},
		{"permit (principal action, resource);", "1:19", "missing `,` before `action`", ""},
		{"permit (principal, action, resource) whne { true };", "1:38",
			"expected `when`, `unless` or `;` after the policy's scope, found `whne` (did you mean `when`?)", ""},
		{"permit (principal, action, resource) when { context.x == 1 && };", "1:63", "expected an expression after `&&`, found `}`", ""},
		{"permit (principal, action, resource) when { context.x == \"abc };", "1:58", "the string is not terminated", ""},
		{"permt (principal, action, resource);", "1:1", "expected `permit` or `forbid`, found `permt` (did you mean `permit`?)", ""},
		{"permit (principal, action, resource) when { contxt.x };", "1:45", "found `contxt` (did you mean `context`?)", ""},
		{"permit (principal, action, resource) when {\n\tcontext.a lke \"x\" };", "2:12", "found `lke`",
			"    \tcontext.a lke \"x\" };\n    \t          ^^^"},
		{"permit (principal, action, resource) when { \"é\" lke \"x\" };", "1:49", "found `lke`", ""},
		{"permit (principal, action, resource)", "1:37", "missing `;` at the end of the policy", ""},
		{"permit (principal, action, resource) when { true }\n\n// the end\n", "1:51", "missing `;` at the end of the policy",
			"    permit (principal, action, resource) when { true }\n                                                      ^"},
	}
	for _, tt := range tests {
		_, err := NewSet("org", []Source{{Name: "p.cedar", Text: []byte(tt.src)}})
		var es Errors
		if !errors.As(err, &es) || len(es) != 1 {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		e := es[0]
		at := itoa(e.Line) + ":" + itoa(e.Column)
		if tt.at != "" && at != tt.at || !strings.Contains(e.Message, tt.msg) || e.Code != CodeParse {
			t.Errorf("%q:\n  got  %s %s\n  want %s %s", tt.src, at, e.Message, tt.at, tt.msg)
		}
		if tt.snippet != "" && e.Snippet() != tt.snippet {
			t.Errorf("%q: snippet\n%s\nwant\n%s", tt.src, e.Snippet(), tt.snippet)
		}
	}
}

// FuzzParseErrors: whatever the source, a parse error is placed inside it
// and its snippet is a line of it; explaining never panics.
func FuzzParseErrors(f *testing.F) {
	for _, s := range []string{
		"permit (principal, action, resource) when { context.x lke 1 };",
		"permit (principal, action, resource) when { true }\nforbid (principal, action, resource);",
		"permit (principal action, resource);",
		"permit (principal, action, resource) when { \"a\\\"b // c\" && };",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		_, err := NewSet("org", []Source{{Name: "p.cedar", Text: src}})
		var es Errors
		if !errors.As(err, &es) {
			return
		}
		for _, e := range es {
			if e.Code != CodeParse || e.Line == 0 {
				continue
			}
			if off, ok := offsetOf(src, e.Line, e.Column); !ok || off > len(src) {
				t.Fatalf("%s is outside the source %q", itoa(e.Line)+":"+itoa(e.Column), src)
			}
			if e.Source != "" && utf8.ValidString(string(src)) && !strings.Contains(string(src), e.Source) {
				t.Fatalf("snippet line %q is not in the source %q", e.Source, src)
			}
			_ = e.Snippet()
		}
	})
}
