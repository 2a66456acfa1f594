package history

import (
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"strings"
)

// The provenance extractor finds the values in a text that an injected
// instruction would have an agent reuse: e-mail addresses, URLs, domains,
// account numbers and other identifiers, amounts. Tool output and tool
// arguments go through the same function, so a value matches whatever it
// is surrounded by. It makes one pass over the text with bounded
// look-behind (no regular expressions, no backtracking): linear time in the
// length of the text, whatever the text is.
//
// Matching rules (docs/history.md):
//   - tokens are maximal runs of bytes that are not separators (white
//     space, quotes, brackets, ',', ';', '|', '\', '*', '!', '^'); a comma
//     between two digits is part of the token (4,999.00); leading '(' and
//     trailing '.', ':', '?', ')' are trimmed;
//   - a token with "://" is a URL: the URL (scheme and host lower-cased,
//     trailing '/' dropped) and its host;
//   - a token with '@' and a dotted domain after it is an e-mail address
//     (lower-cased, "mailto:" dropped) and its domain;
//   - a number (digits, optional currency sign, thousands commas, one
//     decimal point; at least two digits) is the number in canonical form
//     (4,999.50 and 4999.5 are the same); 8 or more digits alone are also
//     an identifier (an account or card number);
//   - a dotted name whose last label is letters is a domain (lower-cased);
//   - any other token of at least 5 bytes with a digit, '/' or '_' is an
//     identifier (lower-cased, '-' dropped): account numbers, order ids,
//     repository slugs, keys;
//   - two or more short groups of letters and digits separated by single
//     spaces (IBANs and card numbers as printed: DE89 3704 0044) are also
//     an identifier, joined, if the result has at least 8 bytes and a digit.
//
// Plain words are never values: that they occur in untrusted output says
// nothing.

// kind separates the value spaces, so "evil.com" the domain and "evil.com"
// read as something else never collide.
type kind byte

const (
	kindURL    kind = 'u'
	kindDomain kind = 'd'
	kindEmail  kind = 'e'
	kindNumber kind = 'n'
	kindID     kind = 'i'
)

// maxToken bounds the bytes of one token that are looked at; a longer run
// is cut (its remainder starts a new token). It keeps every token's work
// bounded, so the scan stays linear.
const maxToken = 2048

// Group joining (IBANs, card numbers printed in groups) is bounded too.
const (
	maxGroupPart  = 6
	maxGroupParts = 12
)

// extractor reuses its buffers across calls; not safe for concurrent use.
type extractor struct {
	canon  []byte // the canonical form being built
	group  []byte // the joined groups so far
	parts  int
	starts [maxGroupParts]int  // where each part starts in group
	digit  [maxGroupParts]bool // whether each part has a digit
	emit   func(uint64)
}

// valueHash names a canonical value: the first 8 bytes of SHA-256 over its
// kind and text. Only hashes are kept in memory and in the store: the
// index is small and holds no private values in the clear. A collision
// (one in 2^64 per pair) can only make a value look tainted or trusted
// that is not; against chosen values SHA-256 needs ~2^64 work.
func valueHash(k kind, canon []byte) uint64 {
	var buf [1 + maxToken + 16]byte
	buf[0] = byte(k)
	n := copy(buf[1:], canon)
	sum := sha256.Sum256(buf[:1+n])
	return binary.BigEndian.Uint64(sum[:8])
}

func (x *extractor) put(k kind, canon []byte) {
	if len(canon) == 0 {
		return
	}
	x.emit(valueHash(k, canon))
}

func isSep(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', '<', '>', '(', ')', '[', ']', '{', '}',
		',', ';', '|', '\\', '*', '!', '^':
		return true
	}
	return false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isAlpha(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }
func isAlnum(b byte) bool { return isDigit(b) || isAlpha(b) }

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

// text runs the extractor over s, calling emit with the hash of each value.
func (x *extractor) text(s string) {
	x.group, x.parts = x.group[:0], 0
	i, n := 0, len(s)
	prevEnd := -1 // end of the previous token, for group joining
	for i < n {
		if isSep(s[i]) && !(s[i] == ',' && i > 0 && i+1 < n && isDigit(s[i-1]) && isDigit(s[i+1])) {
			i++
			continue
		}
		start := i
		for i < n && i-start < maxToken {
			c := s[i]
			if isSep(c) && !(c == ',' && i > start && i+1 < n && isDigit(s[i-1]) && isDigit(s[i+1])) {
				break
			}
			i++
		}
		// Groups continue only across exactly one space.
		if prevEnd < 0 || start != prevEnd+1 || s[prevEnd] != ' ' {
			x.flushGroup()
		}
		x.token(s[start:i])
		prevEnd = i
	}
	x.flushGroup()
}

// token classifies one token.
func (x *extractor) token(t string) {
	for len(t) > 0 && (t[0] == '(' || t[0] == ':') {
		t = t[1:]
	}
	for len(t) > 0 {
		switch t[len(t)-1] {
		case '.', ':', '?', ')':
			t = t[:len(t)-1]
			continue
		}
		break
	}
	x.addGroup(t)
	if len(t) < 2 {
		return
	}
	switch {
	case strings.Contains(t, "://"):
		x.url(t)
	case x.email(t):
	case x.number(t):
	case x.domain(t):
	default:
		x.ident(t)
	}
}

func (x *extractor) url(t string) {
	p := strings.Index(t, "://")
	scheme, rest := t[:p], t[p+3:]
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	host := rest[:hostEnd]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	if c := strings.LastIndexByte(host, ':'); c >= 0 && !strings.Contains(host, "]") {
		host = host[:c]
	}
	x.canon = x.canon[:0]
	for i := 0; i < len(scheme); i++ {
		x.canon = append(x.canon, lower(scheme[i]))
	}
	x.canon = append(x.canon, "://"...)
	for i := 0; i < hostEnd; i++ {
		x.canon = append(x.canon, lower(rest[i]))
	}
	x.canon = append(x.canon, rest[hostEnd:]...)
	for len(x.canon) > 0 && x.canon[len(x.canon)-1] == '/' {
		x.canon = x.canon[:len(x.canon)-1]
	}
	x.put(kindURL, x.canon)
	x.domain(host)
}

func (x *extractor) email(t string) bool {
	t = trimPrefixFold(t, "mailto:")
	at := strings.LastIndexByte(t, '@')
	if at <= 0 || at == len(t)-1 {
		return false
	}
	dom := t[at+1:]
	if !x.isDomain(dom) {
		return false
	}
	x.canon = x.canon[:0]
	for i := 0; i < len(t); i++ {
		x.canon = append(x.canon, lower(t[i]))
	}
	x.put(kindEmail, x.canon)
	x.domain(dom)
	return true
}

func trimPrefixFold(s, prefix string) string {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):]
	}
	return s
}

// isDomain: at least two non-empty labels of letters, digits and '-', the
// last one letters only (two or more).
func (x *extractor) isDomain(t string) bool {
	if len(t) < 4 || len(t) > 253 {
		return false
	}
	dots, labelLen, lastAlpha := 0, 0, true
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.':
			if labelLen == 0 {
				return false
			}
			dots++
			labelLen, lastAlpha = 0, true
		case isAlnum(c) || c == '-':
			labelLen++
			if !isAlpha(c) {
				lastAlpha = false
			}
		default:
			return false
		}
	}
	return dots > 0 && labelLen >= 2 && lastAlpha
}

func (x *extractor) domain(t string) bool {
	if !x.isDomain(t) {
		return false
	}
	x.canon = x.canon[:0]
	for i := 0; i < len(t); i++ {
		x.canon = append(x.canon, lower(t[i]))
	}
	x.put(kindDomain, x.canon)
	return true
}

// number recognises an amount or other number and emits its canonical form.
func (x *extractor) number(t string) bool {
	t = trimCurrency(t)
	if t == "" {
		return false
	}
	digits, point := 0, -1
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case isDigit(c):
			digits++
		case c == '.' && point < 0 && i > 0:
			point = i
		case c == ',' && point < 0 && i > 0 && isDigit(t[i-1]):
		case (c == '-' || c == '+') && i == 0:
		default:
			return false
		}
	}
	if digits < 2 || !isDigit(t[len(t)-1]) {
		return false
	}
	x.canon = appendCanonNumber(x.canon[:0], t)
	x.put(kindNumber, x.canon)
	x.longDigits(t)
	return true
}

// longDigits: a run of 8 or more digits alone (an account or card number
// written without spaces) is also an identifier, as it is when printed in
// groups ("4000 0566 5566 5556").
func (x *extractor) longDigits(t string) {
	if len(t) < 8 {
		return
	}
	for i := 0; i < len(t); i++ {
		if !isDigit(t[i]) {
			return
		}
	}
	x.put(kindID, []byte(t))
}

// trimCurrency drops one currency sign or ISO-style code glued to a number.
func trimCurrency(t string) string {
	for _, sign := range []string{"$", "€", "£", "¥"} {
		if strings.HasPrefix(t, sign) {
			return t[len(sign):]
		}
		if strings.HasSuffix(t, sign) {
			return t[:len(t)-len(sign)]
		}
	}
	return t
}

// appendCanonNumber writes a plain decimal number (digits, thousands
// commas, one point, a sign) without commas, leading zeros of the integer
// part, trailing zeros of the fraction or a "+": "004,999.50" → "4999.5".
func appendCanonNumber(dst []byte, t string) []byte {
	if t == "" {
		return dst
	}
	neg := false
	if t[0] == '-' || t[0] == '+' {
		neg = t[0] == '-'
		t = t[1:]
	}
	intPart, frac := t, ""
	if p := strings.IndexByte(t, '.'); p >= 0 {
		intPart, frac = t[:p], t[p+1:]
	}
	frac = strings.TrimRight(frac, "0")
	start := len(dst)
	if neg {
		dst = append(dst, '-')
	}
	lead := true
	for i := 0; i < len(intPart); i++ {
		c := intPart[i]
		if c == ',' || (lead && c == '0') {
			continue
		}
		lead = false
		dst = append(dst, c)
	}
	if lead {
		dst = append(dst, '0')
	}
	if frac != "" {
		dst = append(dst, '.')
		dst = append(dst, frac...)
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}

// canonJSONNumber canonicalises a JSON number (which may have an exponent).
func canonJSONNumber(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, "eE") {
		return appendCanonNumber(dst, s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return dst
	}
	if r.IsInt() {
		return append(dst, r.Num().String()...)
	}
	return appendCanonNumber(dst, r.FloatString(20))
}

func (x *extractor) ident(t string) {
	if len(t) < 5 {
		return
	}
	marked := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		if isDigit(c) || c == '/' || c == '_' {
			marked = true
			break
		}
	}
	if !marked {
		return
	}
	x.canon = appendCanonID(x.canon[:0], t)
	if len(x.canon) >= 4 {
		x.put(kindID, x.canon)
	}
}

func appendCanonID(dst []byte, t string) []byte {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c == '-' || c == ' ' {
			continue
		}
		dst = append(dst, lower(c))
	}
	return dst
}

// addGroup adds a token to the running group if it is a short run of
// letters and digits; anything else ends the group. A group starts at a
// part with a digit (so the words before an IBAN are not part of it).
func (x *extractor) addGroup(t string) {
	if len(t) == 0 || len(t) > maxGroupPart {
		x.flushGroup()
		return
	}
	digit := false
	for i := 0; i < len(t); i++ {
		if !isAlnum(t[i]) {
			x.flushGroup()
			return
		}
		digit = digit || isDigit(t[i])
	}
	if x.parts == 0 && !digit {
		return
	}
	if x.parts == maxGroupParts {
		x.flushGroup()
		if !digit {
			return
		}
	}
	x.starts[x.parts] = len(x.group)
	x.digit[x.parts] = digit
	for i := 0; i < len(t); i++ {
		x.group = append(x.group, lower(t[i]))
	}
	x.parts++
}

// flushGroup emits, for each part with a digit, the parts from it to the
// last part with a digit joined, if that is two parts or more and 8 bytes
// or more: "DE89 3704 0044 0532 0130 00 now" gives "de89370400440532013000"
// (and its tails). At most maxGroupParts values per group.
func (x *extractor) flushGroup() {
	last := -1
	for i := x.parts - 1; i >= 0; i-- {
		if x.digit[i] {
			last = i
			break
		}
	}
	if last > 0 {
		end := len(x.group)
		if last+1 < x.parts {
			end = x.starts[last+1]
		}
		for i := 0; i < last; i++ {
			if x.digit[i] && end-x.starts[i] >= 8 {
				x.put(kindID, x.group[x.starts[i]:end])
			}
		}
	}
	x.group, x.parts = x.group[:0], 0
}

// jsonNumber emits a number that arrived as a JSON number (an argument, or
// structured tool output).
func (x *extractor) jsonNumber(s string) {
	x.canon = canonJSONNumber(x.canon[:0], s)
	digits := 0
	for _, c := range x.canon {
		if isDigit(c) {
			digits++
		}
	}
	if digits >= 2 {
		x.put(kindNumber, x.canon)
		if !strings.ContainsAny(s, "eE") {
			x.longDigits(s)
		}
	}
}
