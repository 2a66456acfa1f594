package jsonrpc

// The implementation of Parse before its allocations were cut, kept as the
// reference that FuzzParseMatchesReference compares the current one with.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

func refCanonicalize(b []byte, maxDepth int) ([]byte, *Error) {
	w := refWalkers.Get().(*refWalker)
	w.dec.Reset(bytes.NewReader(b))
	w.out.Reset()
	w.enc.Reset(&w.out, jsontext.EscapeForJS(true))
	defer func() {
		if len(b) <= 64<<10 { // keep no large buffers around
			w.dec.Reset(bytes.NewReader(nil))
			w.reset()
			refWalkers.Put(w)
		}
	}()
	for {
		tok, err := w.dec.ReadToken()
		if err != nil {
			var se *jsontext.SyntacticError
			if errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &se) {
				return nil, errorf(nil, CodeInvalidRequest, "member name %q appears twice in one object (at %s)", lastToken(se.JSONPointer), se.JSONPointer)
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // no value at all
			}
			return nil, errorf(nil, CodeParseError, "invalid JSON: %v", err)
		}
		depth := w.dec.StackDepth()
		if depth > maxDepth {
			return nil, errorf(nil, CodeInvalidRequest, "message is nested deeper than the limit of %d", maxDepth)
		}
		switch k := tok.Kind(); {
		case k == '{':
			w.open()
		case k == '}':
			w.close()
		case k == '"' && refIsName(w.dec, depth):
			if err := w.noteName(tok.String()); err != nil {
				return nil, err
			}
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

// walker holds what canonicalize reuses: a decoder's and an encoder's
// buffers cost more than the walk.
type refWalker struct {
	dec *jsontext.Decoder
	enc *jsontext.Encoder
	out bytes.Buffer
	// keys holds the folded member names of the open objects, innermost
	// last; levels says where each object's names start.
	keys   []string
	levels []refLevel
}

type refLevel struct {
	start int
	set   map[string]struct{} // the object's names, once it has many
}

// refManyNames is where an object's names move from a list to a map.
const refManyNames = 16

var refWalkers = sync.Pool{New: func() any {
	return &refWalker{dec: jsontext.NewDecoder(bytes.NewReader(nil)), enc: jsontext.NewEncoder(io.Discard)}
}}

func (w *refWalker) reset() {
	w.keys, w.levels = w.keys[:0], w.levels[:0]
}

func (w *refWalker) open() { w.levels = append(w.levels, refLevel{start: len(w.keys)}) }

func (w *refWalker) close() {
	top := len(w.levels) - 1
	w.keys = w.keys[:w.levels[top].start]
	w.levels = w.levels[:top]
}

// isName tells whether the string just read at depth is a member name: in
// an object, names are the tokens at even positions (the count is odd once
// the name is read).
func refIsName(d *jsontext.Decoder, depth int) bool {
	kind, n := d.StackIndex(depth)
	return kind == '{' && n%2 == 1
}

// noteName refuses a name that equals an earlier one of the same object up
// to case (exact repeats are refused by the decoder already).
func (w *refWalker) noteName(name string) *Error {
	l := &w.levels[len(w.levels)-1]
	key := refFoldName(name)
	dup := func() *Error {
		return errorf(nil, CodeInvalidRequest, "member name %q appears twice in one object, in another letter case", name)
	}
	if l.set != nil {
		if _, ok := l.set[key]; ok {
			return dup()
		}
		l.set[key] = struct{}{}
		return nil
	}
	names := w.keys[l.start:]
	for _, k := range names {
		if k == key {
			return dup()
		}
	}
	if len(names) < refManyNames {
		w.keys = append(w.keys, key)
		return nil
	}
	l.set = make(map[string]struct{}, 2*refManyNames)
	for _, k := range names {
		l.set[k] = struct{}{}
	}
	l.set[key] = struct{}{}
	w.keys = w.keys[:l.start]
	return nil
}

// foldName maps every name to one spelling per case-insensitive class: each
// letter to the smallest rune of its Unicode simple-folding orbit, the
// equivalence strings.EqualFold (and encoding/json's name matching) uses, so
// that "K", "k" and the Kelvin sign fall together.
func refFoldName(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s) // the least of an ASCII letter's orbit is its capital
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

func refParse(line []byte, lim Limits) (*Frame, *Error) {
	b := bytes.TrimSpace(line)
	if lim.MaxBytes > 0 && len(b) > lim.MaxBytes {
		return nil, errorf(recoverID(b), CodeInvalidRequest, "message of %d bytes is larger than the limit of %d bytes", len(b), lim.MaxBytes)
	}
	canonical := lim.MaxDepth > 0
	if canonical {
		c, err := refCanonicalize(b, lim.MaxDepth)
		if err != nil {
			if err.Code != CodeParseError {
				err.ID = recoverID(b)
			}
			return nil, err
		}
		b = c
	}
	if len(b) > 0 && b[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			return nil, errorf(nil, CodeParseError, "invalid JSON: %v", err)
		}
		if len(items) == 0 {
			return nil, errorf(nil, CodeInvalidRequest, "empty batch")
		}
		f := &Frame{Batch: true, Items: make([]Item, len(items))}
		for i, raw := range items {
			f.Items[i].Msg, f.Items[i].Err = refParseMessage(raw)
			if canonical && f.Items[i].Msg != nil {
				f.Items[i].Msg.Raw = f.Items[i].Msg.refEncode()
			}
		}
		return f, nil
	}
	m, err := refParseMessage(b)
	if err != nil {
		return nil, err
	}
	if canonical {
		m.Raw = m.refEncode()
	}
	return &Frame{Items: []Item{{Msg: m}}}, nil
}

// parseMessage reads the envelope of one message (valid JSON).
func refParseMessage(raw json.RawMessage) (*Message, *Error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, errorf(nil, CodeParseError, "invalid JSON: %v", err)
		}
		return nil, errorf(nil, CodeInvalidRequest, "a JSON-RPC message must be an object")
	}
	m := &Message{Raw: raw}

	// The id first, so that every later error can name it.
	id, hasID := fields["id"]
	var idErr string
	if hasID {
		if _, err := IDKey(id); err == nil {
			m.ID = id
		} else {
			idErr = err.Error()
		}
	}
	bad := func(format string, args ...any) (*Message, *Error) {
		return nil, errorf(m.ID, CodeInvalidRequest, format, args...)
	}
	if v, ok := fields["jsonrpc"]; !ok || string(v) != `"2.0"` {
		var s string
		if !ok || json.Unmarshal(v, &s) != nil || s != Version {
			return bad(`"jsonrpc" must be "2.0"`)
		}
	}
	method, hasMethod := fields["method"]
	result, hasResult := fields["result"]
	errObj, hasError := fields["error"]
	switch {
	case hasMethod:
		if err := json.Unmarshal(method, &m.Method); err != nil {
			return bad(`"method" must be a string`)
		}
		if hasResult || hasError {
			return bad("a message cannot be both a request and a response")
		}
		if p, ok := fields["params"]; ok {
			if c := firstByte(p); c != '{' && c != '[' {
				return bad(`"params" must be an object or an array`)
			}
			m.Params = p
		}
		m.Kind = KindNotification
		if hasID {
			if idErr != "" {
				return bad("%s", idErr)
			}
			m.Kind = KindRequest
		}
	case hasResult || hasError:
		if hasResult == hasError {
			return bad(`a response must have exactly one of "result" and "error"`)
		}
		if !hasID {
			return bad(`a response must have an "id"`)
		}
		if idErr != "" && !(hasError && string(bytes.TrimSpace(id)) == "null") {
			// null is allowed only for an error about an unreadable request.
			return bad("%s", idErr)
		}
		if hasError {
			if firstByte(errObj) != '{' {
				return bad(`"error" must be an object`)
			}
			m.Error = errObj
			if m.ID == nil {
				m.ID = json.RawMessage("null")
			}
		} else {
			m.Result = result
		}
		m.Kind = KindResponse
	default:
		return bad(`a message needs a "method" (request, notification) or a "result" or "error" (response)`)
	}
	return m, nil
}

func (m *Message) refEncode() []byte {
	b := make([]byte, 0, len(m.Params)+len(m.Result)+len(m.Error)+len(m.Method)+len(m.ID)+48)
	b = append(b, `{"jsonrpc":"2.0"`...)
	if m.ID != nil {
		b = append(append(b, `,"id":`...), m.ID...)
	}
	if m.Kind != KindResponse {
		method, _ := Marshal(m.Method) // a string always encodes
		b = append(append(b, `,"method":`...), method...)
		if m.Params != nil {
			b = append(append(b, `,"params":`...), m.Params...)
		}
	} else if m.Error != nil {
		b = append(append(b, `,"error":`...), m.Error...)
	} else {
		b = append(append(b, `,"result":`...), m.Result...)
	}
	return append(b, '}')
}
