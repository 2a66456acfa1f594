// Package jcs is the JSON Canonicalization Scheme of RFC 8785: one byte
// sequence for each JSON value, so that a digest of it names the value
// whatever whitespace, key order or escapes the sender used.
//
// No maintained Go implementation is available to this project, so this is
// a small one, tested against the RFC's examples (its number table in
// Appendix B among them). It parses the input itself rather than through
// encoding/json, because encoding/json silently replaces invalid UTF-8 and
// lone surrogates with U+FFFD — two different inputs would then share one
// canonical form, and an approval given for one would let the other through.
//
// Canonicalize is RFC 8785 exactly. Exact is stricter, for binding
// approvals: it also rejects numbers whose canonical form would denote a
// different number than the literal (more digits than an IEEE-754 double
// holds: 9007199254740993, 0.10000000000000000001), because the upstream
// may read the literal exactly while the canonical form cannot tell the two
// apart.
package jcs

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects.
const MaxDepth = 1000

// Error says why a text cannot be canonicalized, and where.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("JSON at byte %d: %s", e.Offset, e.Msg) }

// Canonicalize returns the RFC 8785 form of one JSON text. It rejects
// invalid JSON, duplicate object keys, invalid UTF-8, lone surrogates and
// numbers out of the range of an IEEE-754 double.
func Canonicalize(in []byte) ([]byte, error) { return transform(in, false) }

// Exact is Canonicalize that also rejects a number whose canonical form
// denotes another number than its literal does.
func Exact(in []byte) ([]byte, error) { return transform(in, true) }

func transform(in []byte, exact bool) ([]byte, error) {
	p := &parser{in: in, exact: exact}
	p.skipSpace()
	if err := p.value(0); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.in) {
		return nil, p.errf("data after the JSON value")
	}
	return p.out, nil
}

type parser struct {
	in    []byte
	pos   int
	out   []byte
	exact bool
}

func (p *parser) errf(format string, args ...any) error {
	return &Error{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) error {
	if p.pos >= len(p.in) {
		return p.errf("unexpected end of input")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return err
		}
		p.out = appendString(p.out, s)
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(p.in[p.pos:], []byte(lit)) {
				p.pos += len(lit)
				p.out = append(p.out, lit...)
				return nil
			}
		}
		return p.errf("unexpected character %q", c)
	}
}

type member struct {
	key   string
	u16   []uint16
	value []byte
}

func (p *parser) object(depth int) error {
	if depth > MaxDepth {
		return p.errf("nested deeper than %d", MaxDepth)
	}
	p.pos++ // {
	var members []member
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		p.out = append(p.out, "{}"...)
		return nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return p.errf("expected a string as object key")
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return p.errf("expected ':' after an object key")
		}
		p.pos++
		p.skipSpace()
		// Each member's value is written on its own, then the members are
		// sorted and joined.
		saved := p.out
		p.out = nil
		if err := p.value(depth); err != nil {
			return err
		}
		members = append(members, member{key: key, u16: utf16.Encode([]rune(key)), value: p.out})
		p.out = saved
		p.skipSpace()
		if p.pos >= len(p.in) {
			return p.errf("unexpected end of input in an object")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] != '}' {
			return p.errf("expected ',' or '}' in an object")
		}
		p.pos++
		break
	}
	// RFC 8785 §3.2.3: keys sorted by their UTF-16 code units.
	slices.SortFunc(members, func(a, b member) int { return slices.Compare(a.u16, b.u16) })
	for i := 1; i < len(members); i++ {
		if members[i].key == members[i-1].key {
			return p.errf("duplicate object key %q", members[i].key)
		}
	}
	p.out = append(p.out, '{')
	for i, m := range members {
		if i > 0 {
			p.out = append(p.out, ',')
		}
		p.out = appendString(p.out, m.key)
		p.out = append(p.out, ':')
		p.out = append(p.out, m.value...)
	}
	p.out = append(p.out, '}')
	return nil
}

func (p *parser) array(depth int) error {
	if depth > MaxDepth {
		return p.errf("nested deeper than %d", MaxDepth)
	}
	p.pos++ // [
	p.out = append(p.out, '[')
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		p.out = append(p.out, ']')
		return nil
	}
	for first := true; ; first = false {
		if !first {
			p.out = append(p.out, ',')
		}
		p.skipSpace()
		if err := p.value(depth); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.in) {
			return p.errf("unexpected end of input in an array")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] != ']' {
			return p.errf("expected ',' or ']' in an array")
		}
		p.pos++
		p.out = append(p.out, ']')
		return nil
	}
}

// str reads a string literal and returns its value. Invalid UTF-8 and
// escapes of lone surrogates are errors, never replaced.
func (p *parser) str() (string, error) {
	p.pos++ // "
	var b strings.Builder
	for {
		if p.pos >= len(p.in) {
			return "", p.errf("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20:
			return "", p.errf("control character %#02x in a string", c)
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, n := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return "", p.errf("invalid UTF-8 in a string")
			}
			b.WriteRune(r)
			p.pos += n
		}
	}
}

func (p *parser) escape() (rune, error) {
	if p.pos+1 >= len(p.in) {
		return 0, p.errf("unterminated escape")
	}
	c := p.in[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r1, err := p.hex4()
		if err != nil {
			return 0, err
		}
		if !utf16.IsSurrogate(r1) {
			return r1, nil
		}
		if r1 >= 0xdc00 {
			return 0, p.errf("lone low surrogate \\u%04x", r1)
		}
		if p.pos+1 >= len(p.in) || p.in[p.pos] != '\\' || p.in[p.pos+1] != 'u' {
			return 0, p.errf("lone high surrogate \\u%04x", r1)
		}
		p.pos += 2
		r2, err := p.hex4()
		if err != nil {
			return 0, err
		}
		r := utf16.DecodeRune(r1, r2)
		if r == utf8.RuneError {
			return 0, p.errf("high surrogate \\u%04x not followed by a low one", r1)
		}
		return r, nil
	default:
		return 0, p.errf("invalid escape \\%c", c)
	}
}

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.in) {
		return 0, p.errf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(p.in[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, p.errf("invalid \\u escape")
	}
	p.pos += 4
	return rune(v), nil
}

// number reads a number literal (JSON grammar) and writes its canonical
// form.
func (p *parser) number() error {
	start := p.pos
	if p.in[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if n := digits(); n == 0 {
		return p.errf("a number needs digits")
	} else if n > 1 && p.in[intStart] == '0' {
		return p.errf("a number may not start with 0")
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return p.errf("a number needs digits after '.'")
		}
	}
	expDigits := ""
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		es := p.pos
		if digits() == 0 {
			return p.errf("a number needs digits in its exponent")
		}
		expDigits = strings.TrimLeft(string(p.in[es:p.pos]), "0")
	}
	lit := string(p.in[start:p.pos])
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) {
		return &Error{Offset: start, Msg: fmt.Sprintf("number %s is out of the range of an IEEE-754 double", lit)}
	}
	canon := FormatNumber(f)
	if p.exact {
		// Compare the two as exact rationals. An exponent of more than
		// four digits is far outside a double's range (and big.Rat would
		// build a huge number for it): such a literal is exact only if it
		// is zero, which its canonical form "0" then equals.
		same := false
		if len(expDigits) <= 4 {
			a, ok1 := new(big.Rat).SetString(lit)
			b, ok2 := new(big.Rat).SetString(canon)
			same = ok1 && ok2 && a.Cmp(b) == 0
		} else {
			mantissa := lit[:strings.IndexAny(lit, "eE")]
			same = f == 0 && strings.Trim(mantissa, "-0.") == ""
		}
		if !same {
			return &Error{Offset: start, Msg: fmt.Sprintf("number %s has more precision than an IEEE-754 double holds (its canonical form %s is another number); send it as a string", lit, canon)}
		}
	}
	p.out = append(p.out, canon...)
	return nil
}

// FormatNumber serialises a double as ECMAScript's Number.prototype.toString
// does (RFC 8785 §3.2.2.3): the shortest digits that read back as f, in
// plain notation for exponents from -6 to 20, else in exponent notation.
// NaN and infinities have no JSON form; they format as "null" and never
// come from parsing.
func FormatNumber(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "null"
	}
	if f == 0 {
		return "0" // and -0
	}
	var b []byte
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// Shortest round-trip digits d1…dk and exponent: f = 0.d1…dk × 10^n.
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	n := x + 1
	k := len(digits)
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		b = append(b, strings.Repeat("0", n-k)...)
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, "0."...)
		b = append(b, strings.Repeat("0", -n)...)
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return string(b)
}

// appendString writes a string as ECMAScript's JSON.stringify does
// (RFC 8785 §3.2.2.2): only '"', '\\' and control characters are escaped,
// with the short forms where JSON has them and \u00xx (lower case) else.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c >= 0x20:
			b = append(b, c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	return append(b, '"')
}
