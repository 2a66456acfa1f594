package sqlfacts

import (
	"errors"

	"github.com/go-json-experiment/json/jsontext"
)

// pg_query can hand back its tree as protobuf or as JSON. Going through
// protobuf costs about 80 µs for a 200-character statement (C-side packing
// plus Go unmarshalling); the JSON form costs 11 µs, and a general JSON
// decoder would add another 14 µs. This file reads that machine-written JSON
// into a flat slice of nodes without copying strings, which keeps the whole
// classification near 15 µs. It is strict: anything unexpected is an error,
// which the classifier reports as parse_error.

type jkind uint8

const (
	jObj jkind = iota + 1
	jArr
	jStr
	jNum
	jTrue
	jFalse
	jNull
)

// jnode is one JSON value. The key (member name inside an object) and raw
// (the text of a scalar: a string without its quotes, still escaped when
// esc is set) are offsets into the source, so that nodes hold no pointers
// and filling the slice costs no GC write barriers. first and next link
// children and siblings by index, -1 for none.
type jnode struct {
	keyOff, keyLen int32
	rawOff, rawLen int32
	first, next    int32
	kind           jkind
	esc            bool
}

type jtree struct {
	src string
	n   []jnode
}

func (t *jtree) key(i int32) string {
	n := &t.n[i]
	return t.src[n.keyOff : n.keyOff+n.keyLen]
}

func (t *jtree) raw(i int32) string {
	n := &t.n[i]
	return t.src[n.rawOff : n.rawOff+n.rawLen]
}

var errJSON = errors.New("unexpected parser output")

// maxJSONDepth bounds nesting so that the recursive walk over the tree has
// a bounded stack; PostgreSQL's own stack-depth check stops far earlier for
// most shapes, but long operator chains nest one level per operand.
const maxJSONDepth = 4000

func (t *jtree) parse(s string) error {
	t.n = t.n[:0]
	if want := len(s) / 10; cap(t.n) < want {
		// pg_query writes a node per 10 to 40 bytes of JSON: growing the
		// slice by doubling would copy it over and over for large trees.
		t.n = make([]jnode, 0, want)
	}
	t.src = s
	if len(s) >= 1<<31-1 {
		return errJSON
	}
	type frame struct{ idx, last int32 }
	var stackBuf [64]frame
	stack := stackBuf[:0]
	i := 0
	skipWS := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
	}
	add := func(keyOff, keyLen int, k jkind, rawOff, rawLen int, esc bool) int32 {
		t.n = append(t.n, jnode{keyOff: int32(keyOff), keyLen: int32(keyLen), rawOff: int32(rawOff), rawLen: int32(rawLen), kind: k, esc: esc, first: -1, next: -1})
		idx := int32(len(t.n) - 1)
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.last < 0 {
				t.n[top.idx].first = idx
			} else {
				t.n[top.last].next = idx
			}
			top.last = idx
		}
		return idx
	}
	// scanString reads the string whose opening quote is at s[i] and
	// returns the offset and length of its contents.
	scanString := func() (int, int, bool, error) {
		start := i + 1
		esc := false
		for j := start; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"':
				i = j + 1
				return start, j - start, esc, nil
			case c == '\\':
				esc = true
				j++
			case c < 0x20:
				return 0, 0, false, errJSON
			}
		}
		return 0, 0, false, errJSON
	}
	for {
		skipWS()
		// Inside an object, a member name comes first.
		keyOff, keyLen := 0, 0
		if len(stack) > 0 && t.n[stack[len(stack)-1].idx].kind == jObj {
			if i < len(s) && s[i] == '}' {
				i++
				stack = stack[:len(stack)-1]
				goto closed
			}
			if i >= len(s) || s[i] != '"' {
				return errJSON
			}
			ko, kl, esc, err := scanString()
			if err != nil || esc {
				// Member names in pg_query's output are plain identifiers.
				return errJSON
			}
			keyOff, keyLen = ko, kl
			skipWS()
			if i >= len(s) || s[i] != ':' {
				return errJSON
			}
			i++
			skipWS()
		} else if len(stack) > 0 && i < len(s) && s[i] == ']' {
			i++
			stack = stack[:len(stack)-1]
			goto closed
		}
		if i >= len(s) {
			return errJSON
		}
		switch c := s[i]; {
		case c == '{' || c == '[':
			if len(stack) >= maxJSONDepth {
				return errTooDeep
			}
			k := jObj
			if c == '[' {
				k = jArr
			}
			i++
			idx := add(keyOff, keyLen, k, 0, 0, false)
			stack = append(stack, frame{idx, -1})
			continue
		case c == '"':
			vo, vl, esc, err := scanString()
			if err != nil {
				return err
			}
			add(keyOff, keyLen, jStr, vo, vl, esc)
		case c == '-' || (c >= '0' && c <= '9'):
			start := i
			for i < len(s) && (s[i] == '-' || s[i] == '+' || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || (s[i] >= '0' && s[i] <= '9')) {
				i++
			}
			add(keyOff, keyLen, jNum, start, i-start, false)
		case len(s)-i >= 4 && s[i:i+4] == "true":
			i += 4
			add(keyOff, keyLen, jTrue, 0, 0, false)
		case len(s)-i >= 5 && s[i:i+5] == "false":
			i += 5
			add(keyOff, keyLen, jFalse, 0, 0, false)
		case len(s)-i >= 4 && s[i:i+4] == "null":
			i += 4
			add(keyOff, keyLen, jNull, 0, 0, false)
		default:
			return errJSON
		}
	closed:
		if len(stack) == 0 {
			skipWS()
			if i != len(s) || len(t.n) == 0 {
				return errJSON
			}
			return nil
		}
		skipWS()
		if i < len(s) && s[i] == ',' {
			i++
			skipWS()
			if i < len(s) && (s[i] == '}' || s[i] == ']') {
				return errJSON
			}
		} else if i >= len(s) || (s[i] != '}' && s[i] != ']') {
			return errJSON
		}
	}
}

// str returns the decoded text of a string node.
func (t *jtree) str(i int32) string {
	if i < 0 || t.n[i].kind != jStr {
		return ""
	}
	raw := t.raw(i)
	if !t.n[i].esc {
		return raw
	}
	b, err := jsontext.AppendUnquote(nil, `"`+raw+`"`)
	if err != nil {
		return raw
	}
	return string(b)
}

// child returns the member called key of object i, or -1.
func (t *jtree) child(i int32, key string) int32 {
	if i < 0 {
		return -1
	}
	for c := t.n[i].first; c >= 0; c = t.n[c].next {
		if t.key(c) == key {
			return c
		}
	}
	return -1
}

func (t *jtree) isTrue(i int32, key string) bool {
	c := t.child(i, key)
	return c >= 0 && t.n[c].kind == jTrue
}

// wrapped reports whether object i is a pg_query Node wrapper, an object
// with one member named after the node type ({"RangeVar": {...}}), and
// returns that type and the body.
func (t *jtree) wrapped(i int32) (string, int32) {
	n := &t.n[i]
	if n.kind != jObj || n.first < 0 {
		return "", -1
	}
	c := n.first
	if t.n[c].next >= 0 || t.n[c].kind != jObj {
		return "", -1
	}
	k := t.key(c)
	if k == "" || k[0] < 'A' || k[0] > 'Z' {
		return "", -1
	}
	return k, c
}
