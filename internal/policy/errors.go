package policy

import (
	"regexp"
	"strconv"
	"strings"
)

// Stable codes of policy errors.
const (
	CodeParse       = "policy.parse"
	CodeInvalid     = "policy.invalid"
	CodeDuplicateID = "policy.duplicate_id"
	CodeSchema      = "policy.schema"
	CodeValidation  = "policy.validation"
	CodeLoad        = "policy.load"
)

// Error is a problem in a policy source, located as precisely as known.
type Error struct {
	Code    string
	File    string
	Line    int // 0 when unknown
	Column  int
	Message string
	// Source is the line of the source the error is on, Span the width of
	// what Column points at: Snippet shows them (parse errors).
	Source string
	Span   int
}

// Snippet is the source line with a caret under the error's position, or
// "" when the source is not known.
func (e *Error) Snippet() string {
	if e.Source == "" || e.Column < 1 {
		return ""
	}
	var pad strings.Builder
	col := 1
	for _, r := range e.Source {
		if col >= e.Column {
			break
		}
		if r == '\t' {
			pad.WriteByte('\t') // keep the caret under the text
		} else {
			pad.WriteByte(' ')
		}
		col++
	}
	return "    " + e.Source + "\n    " + pad.String() + strings.Repeat("^", max(e.Span, 1))
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Column))
	}
	b.WriteString(": " + e.Message + " [" + e.Code + "]")
	return b.String()
}

// Errors is every problem found in one load.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// cedar-go reports positions as "<input>:LINE:COL" inside its messages.
var cedarPos = regexp.MustCompile(`<input>:(\d+):(\d+):?\s*`)

// parseError turns a cedar-go parse error into an Error with the file's
// position. cedar-go prefixes its messages with "parser error: parse error
// at"; those words add nothing once the location is known.
func parseError(file string, src []byte, err error) *Error {
	msg := err.Error()
	e := &Error{Code: CodeParse, File: file}
	if m := cedarPos.FindStringSubmatchIndex(msg); m != nil {
		e.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		e.Column, _ = strconv.Atoi(msg[m[4]:m[5]])
		msg = msg[:m[0]] + msg[m[1]:]
	}
	for _, p := range []string{"parser error: ", "parse error at ", "parse error: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	e.Message = strings.TrimSpace(msg)
	if e.Message == "" {
		e.Message = "syntax error"
	}
	if src != nil {
		explain(e, src)
	}
	return e
}

func quote(s string) string { return strconv.Quote(s) }
func itoa(i int) string     { return strconv.Itoa(i) }
