package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// canonicalize walks the JSON value in b token by token, rejects
//   - invalid JSON, including invalid UTF-8 (CodeParseError),
//   - nesting deeper than maxDepth (CodeInvalidRequest), and
//   - an object with the same member name twice, also in another letter
//     case (CodeInvalidRequest),
//
// and returns the value re-encoded: compact, with U+0085, U+2028 and U+2029
// escaped. What a relay forwards is this encoding, never the peer's bytes.
//
// Duplicate names are refused because JSON parsers disagree on which value
// wins, and many match names case-insensitively (Go's encoding/json does):
// if toolgate judged one "name" or "path" and the server acted on the other,
// a policy could be bypassed. Invalid UTF-8 is refused for the same reason.
// The re-encoding closes framing smuggling: a server that splits lines on
// "\r", U+0085, U+2028 or U+2029 (Python's str.splitlines does) sees the
// message toolgate judged, whole, on one line, and never whitespace or
// escapes that toolgate did not write.
//
// The tokenizer is jsontext, the JSON v2 prototype's (nothing is parsed by
// hand).
func canonicalize(b []byte, maxDepth int) ([]byte, *Error) {
	w := walkers.Get().(*walker)
	w.in.Reset(b)
	w.dec.Reset(&w.in)
	w.out.Reset()
	w.enc.Reset(&w.out, jsontext.EscapeForJS(true))
	defer func() {
		if len(b) <= 64<<10 { // keep no large buffers around
			w.in.Reset(nil)
			w.dec.Reset(&w.in)
			w.reset()
			walkers.Put(w)
		}
	}()
	for {
		// A member name is read as its raw (quoted) value: the walk needs
		// only its folded bytes, and a Token's string would be allocated.
		if kind, n := w.dec.StackIndex(w.dec.StackDepth()); kind == '{' && n%2 == 0 && w.dec.PeekKind() == '"' {
			name, err := w.dec.ReadValue()
			if err != nil {
				return nil, readError(err)
			}
			if err := w.noteName(name); err != nil {
				return nil, err
			}
			if err := w.enc.WriteValue(name); err != nil {
				return nil, errorf(nil, CodeParseError, "invalid JSON: %v", err)
			}
			continue
		}
		tok, err := w.dec.ReadToken()
		if err != nil {
			return nil, readError(err)
		}
		depth := w.dec.StackDepth()
		if depth > maxDepth {
			return nil, errorf(nil, CodeInvalidRequest, "message is nested deeper than the limit of %d", maxDepth)
		}
		switch tok.Kind() {
		case '{':
			w.open()
		case '}':
			w.close()
		}
		if err := w.enc.WriteToken(tok); err != nil {
			return nil, errorf(nil, CodeParseError, "invalid JSON: %v", err)
		}
		if depth == 0 {
			// One whole value; the decoder reads streams, but a message is
			// one value and nothing more.
			if _, err := w.dec.ReadToken(); err != io.EOF {
				return nil, errorf(nil, CodeParseError, "invalid JSON: more than one value in one message")
			}
			out := bytes.TrimRight(w.out.Bytes(), "\n")
			return escapeLineBreaks(bytes.Clone(out)), nil
		}
	}
}

// readError is the error about what the decoder could not read.
func readError(err error) *Error {
	var se *jsontext.SyntacticError
	if errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &se) {
		return errorf(nil, CodeInvalidRequest, "member name %q appears twice in one object (at %s)", lastToken(se.JSONPointer), se.JSONPointer)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // no value at all
	}
	return errorf(nil, CodeParseError, "invalid JSON: %v", err)
}

// walker holds what canonicalize reuses: a decoder's and an encoder's
// buffers cost more than the walk.
type walker struct {
	in  bytes.Reader
	dec *jsontext.Decoder
	enc *jsontext.Encoder
	out bytes.Buffer
	// keys are the folded member names of the open objects, innermost
	// last, as spans of folded; levels says where each object's names
	// start.
	keys    []span
	folded  []byte
	levels  []level
	unquote []byte // scratch
}

type span struct{ off, len int }

type level struct {
	start, foldedStart int
	set                map[string]struct{} // the object's names, once it has many
}

// manyNames is where an object's names move from a list to a map.
const manyNames = 16

var walkers = sync.Pool{New: func() any {
	return &walker{dec: jsontext.NewDecoder(bytes.NewReader(nil)), enc: jsontext.NewEncoder(io.Discard)}
}}

func (w *walker) reset() {
	w.keys, w.levels, w.folded = w.keys[:0], w.levels[:0], w.folded[:0]
}

func (w *walker) open() {
	w.levels = append(w.levels, level{start: len(w.keys), foldedStart: len(w.folded)})
}

func (w *walker) close() {
	top := len(w.levels) - 1
	w.keys = w.keys[:w.levels[top].start]
	w.folded = w.folded[:w.levels[top].foldedStart]
	w.levels = w.levels[:top]
}

// noteName refuses a name (raw, as read: quoted, possibly escaped) that
// equals an earlier one of the same object up to case (exact repeats are
// refused by the decoder already).
func (w *walker) noteName(raw []byte) *Error {
	l := &w.levels[len(w.levels)-1]
	start := len(w.folded)
	name := raw[1 : len(raw)-1] // the decoder read a valid string
	if bytes.IndexByte(name, '\\') >= 0 {
		u, err := jsontext.AppendUnquote(w.unquote[:0], raw)
		if err != nil {
			return errorf(nil, CodeParseError, "invalid JSON: %v", err)
		}
		w.unquote, name = u, u
	}
	w.folded = appendFolded(w.folded, name)
	key := w.folded[start:]
	dup := func() *Error {
		return errorf(nil, CodeInvalidRequest, "member name %q appears twice in one object, in another letter case", name)
	}
	if l.set != nil {
		defer func() { w.folded = w.folded[:start] }()
		if _, ok := l.set[string(key)]; ok {
			return dup()
		}
		l.set[string(key)] = struct{}{}
		return nil
	}
	names := w.keys[l.start:]
	for _, k := range names {
		if bytes.Equal(w.folded[k.off:k.off+k.len], key) {
			return dup()
		}
	}
	if len(names) < manyNames {
		w.keys = append(w.keys, span{start, len(key)})
		return nil
	}
	l.set = make(map[string]struct{}, 2*manyNames)
	for _, k := range names {
		l.set[string(w.folded[k.off:k.off+k.len])] = struct{}{}
	}
	l.set[string(key)] = struct{}{}
	w.keys = w.keys[:l.start]
	w.folded = w.folded[:l.foldedStart]
	return nil
}

// appendFolded appends name with every letter mapped to one spelling per
// case-insensitive class: the smallest rune of its Unicode simple-folding
// orbit, the equivalence strings.EqualFold (and encoding/json's name
// matching) uses, so that "K", "k" and the Kelvin sign fall together.
func appendFolded(dst, name []byte) []byte {
	for i := 0; i < len(name); {
		if c := name[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A' // the least of an ASCII letter's orbit is its capital
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(name[i:])
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		dst = utf8.AppendRune(dst, least)
		i += n
	}
	return dst
}

// escapeLineBreaks escapes U+0085, U+2028 and U+2029, which some line
// readers take for line ends, in compact JSON: there they can only be inside
// strings, so the escape keeps the value. (The encoder already escapes
// U+2028 and U+2029; this catches them in text encoded elsewhere too.)
func escapeLineBreaks(b []byte) []byte {
	if !bytes.Contains(b, nel) && !bytes.Contains(b, ls[:2]) {
		return b
	}
	b = bytes.ReplaceAll(b, nel, []byte(`\u0085`))
	b = bytes.ReplaceAll(b, ls, []byte(`\u2028`))
	return bytes.ReplaceAll(b, ps, []byte(`\u2029`))
}

var (
	nel = []byte("\u0085")
	ls  = []byte("\u2028")
	ps  = []byte("\u2029")
)

// lastToken is the last reference token of a JSON pointer (a member name).
func lastToken(p jsontext.Pointer) string {
	var last string
	for tok := range p.Tokens() {
		last = tok
	}
	return last
}

// RecoverID reads the top-level "id" of a message from its beginning, for a
// message too large to keep whole: the error about it can then name the
// request it answers. It returns nil when the id is not in b (some clients
// write it last) or is not a valid id. isCall reports whether a "method"
// member was seen too, i.e. the message is a request, not a response.
func RecoverID(b []byte) (id json.RawMessage, isCall bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		// Decode into a RawMessage reads exactly one value; a value cut off
		// at the end of b ends the walk.
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			break
		}
		switch key {
		case "id":
			if _, err := IDKey(v); err == nil {
				id = v
			}
		case "method":
			isCall = true
		}
	}
	return id, isCall
}

// recoverID is RecoverID's id alone.
func recoverID(b []byte) json.RawMessage {
	id, _ := RecoverID(b)
	return id
}
