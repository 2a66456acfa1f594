package history

import (
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
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
//   - a token with "://" is a URL: host and path, the scheme dropped (the
//     host lower-cased, punycode, without a trailing dot; a trailing '/'
//     dropped), and its host; a token that starts with a host name followed
//     by '/' or '?' (www.example.com/collect) is a URL too;
//   - a token with '@' and a dotted domain after it is an e-mail address
//     (lower-cased, "mailto:" dropped) and its domain; the domain is marked
//     derived: it taints arguments that are domains or URLs, not other
//     e-mail addresses of the domain;
//   - a number (digits, optional currency sign, thousands commas, one
//     decimal point; at least two digits) is the number in canonical form
//     (4,999.50 and 4999.5 are the same); 8 or more digits alone are also
//     an identifier (an account or card number);
//   - a dotted name whose last label is letters is a domain (lower-cased,
//     punycode, without a trailing dot);
//   - a token with '/' that is not a URL is a file path (cleaned: "a/./b/../c"
//     is "a/c");
//   - any other token of at least 5 bytes with a digit, '/' or '_' is an
//     identifier (lower-cased, '-' dropped): account numbers, order ids,
//     repository slugs, keys;
//   - two or more short groups of letters and digits separated by single
//     spaces (IBANs and card numbers as printed: DE89 3704 0044) are also
//     an identifier, joined, if the result has at least 8 bytes and a digit;
//   - a run of 7 to 15 digits with single separators (space, '-', '.',
//     parentheses) and an optional leading '+' is a phone number: its
//     digits, and its last 10 digits when it has more (the number without
//     its country code); runs shaped like dates are not.
//
// Plain words are never values of free text: that they occur in untrusted
// output says nothing. A short string that is a whole value (a field of
// structured output, an argument) is also a value as a whole (kindWord),
// and so is each word of the task's purpose, so that a name or a channel the
// user named, or a trusted field holds, counts as the user's.

// kind separates the value spaces, so "evil.com" the domain and "evil.com"
// read as something else never collide.
type kind byte

const (
	kindURL    kind = 'U' // host and path, no scheme
	kindURLv1  kind = 'u' // with the scheme: how URLs were stored before (matched in arguments only)
	kindDomain kind = 'd'
	kindEmail  kind = 'e'
	kindNumber kind = 'n'
	kindID     kind = 'i'
	kindPhone  kind = 'p'
	kindPath   kind = 'f'
	kindWord   kind = 'w'
)

// maxWord bounds a string taken as a whole value (kindWord).
const maxWord = 64

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
	// emit gets each value's hash; derived marks the domain of an e-mail
	// address (see the matching rules).
	emit    func(h uint64, derived bool)
	derived bool
	// legacyURL: emit only URLs, in the form they were stored in before
	// (kindURLv1), for matching arguments against older events.
	legacyURL bool
	// kind is the kind of the value being emitted (for emit to read).
	kind kind
}

// isLink tells whether a kind of value names a place to send to or fetch
// from: a web address, a host name, an e-mail address.
func isLink(k kind) bool {
	return k == kindURL || k == kindURLv1 || k == kindDomain || k == kindEmail
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
	x.kind = k
	x.emit(valueHash(k, canon), x.derived)
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
	if !x.legacyURL {
		x.phones(s)
	}
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
	if x.legacyURL {
		if strings.Contains(t, "://") {
			x.url(t)
		}
		return
	}
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
	case x.bareURL(t):
	default:
		if strings.IndexByte(t, '/') >= 0 {
			// A path is one value however it is written: its identifier
			// form is that of the cleaned path too.
			t = x.path(t)
		}
		x.ident(t)
	}
}

// bareURL: a host name followed by a path or query, without a scheme
// (www.example.com/collect, example.com/x?y=1), as e-mails and pages write
// links.
func (x *extractor) bareURL(t string) bool {
	end := strings.IndexAny(t, "/?")
	if end <= 0 {
		return false
	}
	host := t[:end]
	if c := strings.LastIndexByte(host, ':'); c > 0 && allDigits(host[c+1:]) {
		host = host[:c]
	}
	if _, ok := x.hostName(host); !ok {
		return false
	}
	x.urlOf(t[:end], t[end:])
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// path emits a file path, cleaned, and returns the cleaned path.
func (x *extractor) path(t string) string {
	if len(t) < 3 {
		return t
	}
	t = path.Clean(t)
	x.canon = append(x.canon[:0], t...)
	x.put(kindPath, x.canon)
	return t
}

func (x *extractor) url(t string) {
	p := strings.Index(t, "://")
	rest := t[p+3:]
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	if !x.legacyURL {
		x.urlOf(rest[:hostEnd], rest[hostEnd:])
		return
	}
	{
		// The form URLs were stored in before the scheme was dropped
		// (scheme and authority lower-cased, trailing '/' dropped): so
		// that an argument still matches an output indexed in that form
		// within the retention.
		x.canon = x.canon[:0]
		for i := 0; i < p; i++ {
			x.canon = append(x.canon, lower(t[i]))
		}
		x.canon = append(x.canon, "://"...)
		for i := 0; i < hostEnd; i++ {
			x.canon = append(x.canon, lower(rest[i]))
		}
		x.canon = append(x.canon, rest[hostEnd:]...)
		for len(x.canon) > 0 && x.canon[len(x.canon)-1] == '/' {
			x.canon = x.canon[:len(x.canon)-1]
		}
		x.put(kindURLv1, x.canon)
	}
}

// urlOf emits a URL from its authority (user info, host, port) and the
// rest, and its host as a domain: the scheme is not part of the value
// (http://x.example/a and x.example/a lead to the same place).
func (x *extractor) urlOf(authority, rest string) {
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	host, port := authority, ""
	if c := strings.LastIndexByte(authority, ':'); c >= 0 && !strings.Contains(authority[c:], "]") {
		host, port = authority[:c], authority[c:]
	}
	canonHost, ok := x.hostName(host)
	if !ok {
		canonHost = strings.ToLower(strings.TrimSuffix(host, "."))
	}
	x.canon = append(x.canon[:0], canonHost...)
	x.canon = append(x.canon, port...)
	x.canon = append(x.canon, rest...)
	for len(x.canon) > 0 && x.canon[len(x.canon)-1] == '/' {
		x.canon = x.canon[:len(x.canon)-1]
	}
	x.put(kindURL, x.canon)
	if ok {
		x.put(kindDomain, []byte(canonHost))
	}
}

func (x *extractor) email(t string) bool {
	if m := trimPrefixFold(t, "mailto:"); len(m) < len(t) {
		// A mailto: link may carry headers (mailto:a@b.example?subject=…).
		if q := strings.IndexByte(m, '?'); q >= 0 {
			m = m[:q]
		}
		t = m
	}
	at := strings.LastIndexByte(t, '@')
	if at <= 0 || at == len(t)-1 {
		return false
	}
	dom, ok := x.hostName(t[at+1:])
	if !ok {
		return false
	}
	x.canon = x.canon[:0]
	for i := 0; i < at; i++ {
		x.canon = append(x.canon, lower(t[i]))
	}
	x.canon = append(x.canon, '@')
	x.canon = append(x.canon, dom...)
	x.put(kindEmail, x.canon)
	x.derived = true
	x.put(kindDomain, []byte(dom))
	x.derived = false
	return true
}

// hostName returns the canonical form of a host name: lower case, without
// a trailing dot, internationalised names in punycode (bücher.example is
// xn--bcher-kva.example); ok is false if t is not a dotted name whose last
// label is letters.
func (x *extractor) hostName(t string) (string, bool) {
	t = strings.TrimSuffix(t, ".")
	for i := 0; i < len(t); i++ {
		if t[i] >= utf8.RuneSelf {
			a, err := idna.Lookup.ToASCII(t)
			if err != nil {
				return "", false
			}
			t = a
			break
		}
	}
	if !x.isDomain(t) {
		return "", false
	}
	return strings.ToLower(t), true
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
	return dots > 0 && labelLen >= 2 && (lastAlpha || strings.HasPrefix(t[len(t)-labelLen:], "xn--"))
}

func (x *extractor) domain(t string) bool {
	d, ok := x.hostName(t)
	if !ok {
		return false
	}
	x.put(kindDomain, []byte(d))
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
		// Some IBANs end in letters (SC18 SSCB … 1497 USD): the whole
		// group through one or two short parts of letters after the last
		// digit is a value too.
		for i := last + 1; i < x.parts && i <= last+2; i++ {
			e := len(x.group)
			if i+1 < x.parts {
				e = x.starts[i+1]
			}
			if e-x.starts[i] > 4 {
				break
			}
			x.put(kindID, x.group[:e])
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

// word emits s as a whole value (kindWord) if it is short: lower case,
// without white space and '-' ("Bob Smith" is "bobsmith", "DE89 3704-0044"
// is "de8937040044"), so a value reads the same however it is spaced.
func (x *extractor) word(s string) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxWord {
		return
	}
	x.canon = x.canon[:0]
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r', '-':
		default:
			x.canon = append(x.canon, lower(c))
		}
	}
	x.put(kindWord, x.canon)
}

// words emits each word of s as a whole value (the task's purpose: a name
// or a channel the user named is the user's).
func (x *extractor) words(s string) {
	for i := 0; i < len(s); {
		for i < len(s) && (isSep(s[i]) || s[i] == '#' || s[i] == '@') {
			i++
		}
		start := i
		for i < len(s) && !isSep(s[i]) {
			i++
		}
		t := strings.TrimRight(s[start:i], ".:?)")
		t = strings.TrimLeft(t, "(#@")
		if t != "" {
			x.word(t)
		}
	}
}

// phones finds phone numbers (see the matching rules) in one pass.
func (x *extractor) phones(s string) {
	const maxDigits = 15
	var digits [maxDigits + 1]byte
	var groups [maxDigits + 1]int8 // digits per group
	for i := 0; i < len(s); {
		c := s[i]
		if !(c == '+' || c == '(' || isDigit(c)) || (i > 0 && (isAlnum(s[i-1]) || s[i-1] == '.' || s[i-1] == '-' || s[i-1] == '/' || s[i-1] == ',')) {
			i++
			continue
		}
		j := i
		if c == '+' {
			j++
		}
		nd, ng, seps, dots, other := 0, 0, 0, 0, 0
		run := 0 // separators in a row
		end := j
		for j < len(s) && nd <= maxDigits {
			c := s[j]
			if isDigit(c) {
				if run > 0 || ng == 0 {
					ng++
					groups[ng-1] = 0
				}
				digits[nd] = c
				nd++
				groups[ng-1]++
				run = 0
				j++
				end = j
				continue
			}
			if c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' {
				run++
				if run > 2 {
					break
				}
				seps++
				switch c {
				case '.':
					dots++
				case '-', ' ':
				default:
				}
				if c != '.' {
					other++
				}
				j++
				continue
			}
			break
		}
		if end == i {
			end = i + 1
		}
		next := end
		if nd >= 7 && nd <= maxDigits && phoneEnds(s, end) && !dateShaped(groups[:ng]) && !(dots == 1 && other == 0 && groups[ng-1] <= 2) {
			x.put(kindPhone, digits[:nd])
			if nd > 10 {
				x.put(kindPhone, digits[nd-10:nd])
			}
		}
		i = next
	}
}

// phoneEnds tells whether a run of digits ending at end ends a phone number
// rather than going on as part of a name, a path or a decimal
// (0000000.example, 5550100/x).
func phoneEnds(s string, end int) bool {
	for end < len(s) && (s[end] == '.' || s[end] == '-') {
		end++
	}
	return end == len(s) || !(isAlnum(s[end]) || s[end] == '/' || s[end] == '_' || s[end] == '@')
}

// dateShaped: three groups of digits as a date is written (2026 11 27,
// 27 11 2026).
func dateShaped(g []int8) bool {
	if len(g) != 3 {
		return false
	}
	return (g[0] == 4 && g[1] <= 2 && g[2] <= 2) || (g[0] <= 2 && g[1] <= 2 && g[2] == 4)
}
