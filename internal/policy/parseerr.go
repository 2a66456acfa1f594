package policy

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Cedar's parser says "exact got lke want }" at the token after the one it
// did not expect. explain rewrites such messages in words, at the token they
// are about, with the source line and a caret under it (Error.Snippet), and
// reports a missing ";" at the end of the policy that lacks it, not at the
// start of the next one.

var (
	gotWant     = regexp.MustCompile(`^(?:exact )?got (.*) want (.*)$`)
	wantEffect  = regexp.MustCompile(`^unexpected effect: (.*)$`)
	identifier  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	nextPolicy  = map[string]bool{"@": true, "permit": true, "forbid": true}
	conditionKw = []string{"like", "has", "in", "is", "if", "then", "else", "when", "unless", "true", "false",
		"principal", "action", "resource", "context", "contains", "containsAll", "containsAny", "isEmpty", "getTag", "hasTag"}
)

// explain improves e, a parse error of src, in place.
func explain(e *Error, src []byte) {
	off, ok := offsetOf(src, e.Line, e.Column)
	if !ok {
		return
	}
	text := string(src)
	msg := e.Message
	// The message starts with the quoted token at the reported position.
	if i := strings.Index(msg, ": "); i > 0 && strings.HasPrefix(msg, `"`) {
		msg = msg[i+2:]
	}
	at, width := off, tokenWidth(text, off)
	switch m := gotWant.FindStringSubmatch(msg); {
	case m != nil:
		got, want := m[1], m[2]
		// "exact" consumed the token it did not want: it is the one before
		// the reported position ("got X want ," did not: it is there).
		if strings.HasPrefix(msg, "exact ") || !strings.HasPrefix(text[off:], got) {
			if s, end, ok := prevToken(text, off); ok && text[s:end] == got {
				at, width = s, end-s
			}
		}
		switch {
		case want == ";" && (nextPolicy[got] || got == ""):
			// The policy before (or the last one of the file) ends
			// without ";": say so where it ends.
			if _, end, ok := prevToken(text, at); ok {
				at, width = end, 1
			}
			msg = "missing `;` at the end of the policy (every policy ends with `;`)"
		case want == ";" && identifier.MatchString(got):
			msg = fmt.Sprintf("expected `when`, `unless` or `;` after the policy's scope, found `%s`%s", got, didYouMean(got, []string{"when", "unless"}))
		case want == "," && identifier.MatchString(got):
			msg = fmt.Sprintf("missing `,` before `%s`", got)
		case want == "}" && identifier.MatchString(got):
			msg = fmt.Sprintf("expected an operator or `}` after the expression, found `%s`%s", got, didYouMean(got, conditionKw))
		case got == "":
			msg = fmt.Sprintf("expected `%s`, found the end of the file", want)
		default:
			msg = fmt.Sprintf("expected `%s`, found `%s`", want, got)
		}
	case msg == "invalid primary":
		if s, end, ok := prevToken(text, off); ok {
			at, width = s, end-s
			found := text[s:end]
			if ps, pend, ok := prevToken(text, s); ok && isOperator(text[ps:pend]) {
				msg = fmt.Sprintf("expected an expression after `%s`, found `%s`", text[ps:pend], found)
			} else {
				msg = fmt.Sprintf("expected an expression (a value, a variable such as context, or one in parentheses), found `%s`%s", found, didYouMean(found, conditionKw))
			}
		}
	case wantEffect.MatchString(msg):
		got := wantEffect.FindStringSubmatch(msg)[1]
		if s, end, ok := prevToken(text, off); ok && text[s:end] == got {
			at, width = s, end-s
		}
		msg = fmt.Sprintf("expected `permit` or `forbid`, found `%s`%s", got, didYouMean(got, []string{"permit", "forbid"}))
	case msg == "literal not terminated":
		msg = "the string is not terminated: a `\"` is missing"
	}
	e.Message = msg
	e.Line, e.Column = position(src, at)
	e.Source, e.Span = lineAt(text, at), max(1, width)
}

func isOperator(t string) bool {
	switch t {
	case "&&", "||", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "!", "in", "has", "like", "is", "if", "then", "else":
		return true
	}
	return false
}

// didYouMean suggests the candidate closest to s, if one is close.
func didYouMean(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := distance(strings.ToLower(s), strings.ToLower(c)); d < bestD && d <= len(c)/3+1 {
			best, bestD = c, d
		}
	}
	if best == "" || best == s {
		return ""
	}
	return fmt.Sprintf(" (did you mean `%s`?)", best)
}

// distance is the Levenshtein distance of two short words.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// offsetOf is the byte offset of line:col (1-based; col counts runes).
func offsetOf(src []byte, line, col int) (int, bool) {
	if line < 1 || col < 1 {
		return 0, false
	}
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(string(src[off:]), '\n')
		if i < 0 {
			return 0, false
		}
		off += i + 1
	}
	for c := 1; c < col; c++ {
		if off >= len(src) || src[off] == '\n' {
			break
		}
		_, size := utf8.DecodeRune(src[off:])
		off += size
	}
	return off, true
}

// position is the line:col (1-based, col in runes) of a byte offset.
func position(src []byte, off int) (int, int) {
	line, col := 1, 1
	for i := 0; i < off && i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return line, col
}

func lineAt(text string, off int) string {
	start := strings.LastIndexByte(text[:off], '\n') + 1
	end := strings.IndexByte(text[off:], '\n')
	if end < 0 {
		end = len(text) - off
	}
	return strings.TrimRight(text[start:off+end], "\r")
}

// tokenWidth is the width in runes of the token at off (at least 1).
func tokenWidth(text string, off int) int {
	if off >= len(text) {
		return 1
	}
	n := 0
	for _, r := range text[off:] {
		if !isIdentRune(r) {
			break
		}
		n++
	}
	return max(n, 1)
}

func isIdentRune(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// prevToken finds the token that ends before off, skipping white space and
// // comments: an identifier, a string literal, a two-character operator
// or one character.
func prevToken(text string, off int) (start, end int, ok bool) {
	i := off
	for {
		for i > 0 && strings.ContainsRune(" \t\r\n", rune(text[i-1])) {
			i--
		}
		// A // comment on this line ends where the line does.
		ls := strings.LastIndexByte(text[:i], '\n') + 1
		if c := commentStart(text[ls:i]); c >= 0 {
			i = ls + c
			continue
		}
		break
	}
	if i == 0 {
		return 0, 0, false
	}
	end = i
	switch c := text[i-1]; {
	case c == '"':
		j := i - 2
		for j >= 0 && (text[j] != '"' || backslashes(text, j)%2 == 1) {
			j--
		}
		return max(j, 0), end, true
	case isIdentRune(rune(c)):
		j := i - 1
		for j > 0 && isIdentRune(rune(text[j-1])) {
			j--
		}
		return j, end, true
	}
	if i >= 2 {
		switch text[i-2 : i] {
		case "&&", "||", "==", "!=", "<=", ">=", "::":
			return i - 2, end, true
		}
	}
	_, size := utf8.DecodeLastRuneInString(text[:i])
	return i - size, end, true
}

// commentStart is the offset of a // comment in line, outside string
// literals, or -1.
func commentStart(line string) int {
	in := false
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '"' && (i == 0 || backslashes(line, i)%2 == 0):
			in = !in
		case !in && line[i] == '/' && i+1 < len(line) && line[i+1] == '/':
			return i
		}
	}
	return -1
}

// backslashes counts the backslashes right before text[i].
func backslashes(text string, i int) int {
	n := 0
	for j := i - 1; j >= 0 && text[j] == '\\'; j-- {
		n++
	}
	return n
}
