package jsonrpc

import (
	"bytes"
	"encoding/json"
	"io"
)

// checkStructure walks the JSON value in b token by token (encoding/json's
// tokenizer; nothing is parsed by hand) and rejects
//   - invalid JSON (CodeParseError),
//   - nesting deeper than maxDepth (CodeInvalidRequest), and
//   - an object with the same member name twice (CodeInvalidRequest).
//
// Duplicate names are refused because JSON parsers disagree on which value
// wins: if toolgate judged one "name" or "path" and the server acted on the
// other, a policy could be bypassed.
func checkStructure(b []byte, maxDepth int) *Error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers are only skipped, never converted

	var stack []level
	values := 0 // complete top-level values
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errorf(nil, CodeParseError, "invalid JSON: %v", err)
		}
		if values > 0 {
			// The decoder reads a stream; a line must hold one value.
			return errorf(nil, CodeParseError, "invalid JSON: more than one value in one message")
		}
		var l *level
		if len(stack) > 0 {
			l = &stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && l != nil && l.object && !l.wantValue {
			if l.seen(s) {
				return errorf(nil, CodeInvalidRequest, "member name %q appears twice in one object", s)
			}
			l.wantValue = true
			continue
		}
		if l != nil && l.object {
			l.wantValue = false // tok is (the start of) a member's value
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxDepth {
				return errorf(nil, CodeInvalidRequest, "message is nested deeper than the limit of %d", maxDepth)
			}
			stack = append(stack, level{object: tok == json.Delim('{')})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			values++
		}
	}
}

// level is one open object or array. In an object, tokens alternate member
// name and value; wantValue says which comes next.
type level struct {
	object    bool
	wantValue bool
	names     []string            // member names so far (small objects)
	set       map[string]struct{} // the same, once the object is big
}

// seen records a member name and reports whether it was there before.
func (l *level) seen(name string) bool {
	if l.set != nil {
		if _, dup := l.set[name]; dup {
			return true
		}
		l.set[name] = struct{}{}
		return false
	}
	for _, n := range l.names {
		if n == name {
			return true
		}
	}
	l.names = append(l.names, name)
	if len(l.names) > 16 { // linear search stops paying off
		l.set = make(map[string]struct{}, 2*len(l.names))
		for _, n := range l.names {
			l.set[n] = struct{}{}
		}
		l.names = nil
	}
	return false
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
