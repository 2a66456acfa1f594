package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// checkStructure walks the JSON value in b token by token and rejects
//   - invalid JSON, including invalid UTF-8 (CodeParseError),
//   - nesting deeper than maxDepth (CodeInvalidRequest), and
//   - an object with the same member name twice (CodeInvalidRequest).
//
// Duplicate names are refused because JSON parsers disagree on which value
// wins: if toolgate judged one "name" or "path" and the server acted on the
// other, a policy could be bypassed. Invalid UTF-8 is refused for the same
// reason (parsers replace or reject it differently).
//
// The tokenizer is jsontext, the JSON v2 prototype's (nothing is parsed by
// hand): it checks names for duplicates as it reads, without allocating per
// token.
func checkStructure(b []byte, maxDepth int) *Error {
	dec := decoders.Get().(*jsontext.Decoder)
	dec.Reset(bytes.NewReader(b))
	defer func() {
		if len(b) <= 64<<10 { // keep no large buffers around
			dec.Reset(bytes.NewReader(nil))
			decoders.Put(dec)
		}
	}()
	for {
		_, err := dec.ReadToken()
		if err != nil {
			var se *jsontext.SyntacticError
			if errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &se) {
				return errorf(nil, CodeInvalidRequest, "member name %q appears twice in one object (at %s)", lastToken(se.JSONPointer), se.JSONPointer)
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // no value at all
			}
			return errorf(nil, CodeParseError, "invalid JSON: %v", err)
		}
		if dec.StackDepth() > maxDepth {
			return errorf(nil, CodeInvalidRequest, "message is nested deeper than the limit of %d", maxDepth)
		}
		if dec.StackDepth() == 0 {
			// One whole value; the decoder reads streams, but a message is
			// one value and nothing more.
			if _, err := dec.ReadToken(); err != io.EOF {
				return errorf(nil, CodeParseError, "invalid JSON: more than one value in one message")
			}
			return nil
		}
	}
}

// decoders are reused: a decoder's buffers cost more than the walk.
var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewReader(nil)) }}

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
