// Package jsonrpc frames and validates the JSON-RPC 2.0 messages of MCP:
// newline-delimited framing with a size limit, structural checks (nesting
// depth, member names repeated in any letter case), and the envelope a relay
// needs to route a message (kind, id, method). A message from a peer whose
// messages are judged is re-encoded: Raw is toolgate's own compact encoding
// of the envelope members, never the peer's bytes (see canonicalize).
//
// Parsing uses encoding/json only. Objects are decoded into maps, never into
// structs: encoding/json matches struct fields case-insensitively, so a
// message with both "method" and "Method" would be read differently here
// and by the server.
package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// Version is the only JSON-RPC version there is.
const Version = "2.0"

// Kind tells the three kinds of message apart.
type Kind int

const (
	KindRequest      Kind = iota + 1 // method and id: answered with a response
	KindNotification                 // method, no id: never answered
	KindResponse                     // result or error, and the id it answers
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindNotification:
		return "notification"
	case KindResponse:
		return "response"
	}
	return "invalid"
}

// Message is one JSON-RPC message: its envelope members and Raw, the
// message to pass on. When the message was parsed with a structural walk
// (Limits.MaxDepth > 0), Raw is re-encoded by toolgate and holds the envelope
// members only (members JSON-RPC does not define are dropped); otherwise Raw
// is the bytes as received.
type Message struct {
	Raw    []byte
	Kind   Kind
	ID     json.RawMessage // nil for notifications
	Method string
	Params json.RawMessage // nil when absent
	Result json.RawMessage // responses: nil when absent
	Error  json.RawMessage // responses: nil when absent
}

// BatchesAllowed tells whether MCP protocol version v has JSON-RPC batches:
// 2024-11-05 and 2025-03-26 do; later versions removed them.
func BatchesAllowed(v string) bool {
	return v != "" && v <= "2025-03-26"
}

// Frame is what one line held: a single message, or a batch (a JSON array of
// messages). In a batch each item is checked on its own, as JSON-RPC asks,
// so one bad item does not lose the others.
type Frame struct {
	Batch bool
	Items []Item
}

// Item is one message of a frame, or the error that it is not a valid one.
type Item struct {
	Msg *Message
	Err *Error
}

// Limits bound what a peer may send. MaxDepth 0 skips the structural walk
// (depth and duplicate names), for a peer whose messages are only routed,
// not judged.
type Limits struct {
	MaxBytes int
	MaxDepth int
}

// Parse checks one line and returns its messages. The error is about the
// whole line (invalid JSON, too deep, an empty batch); it carries the id when
// one could be read.
func Parse(line []byte, lim Limits) (*Frame, *Error) {
	b := bytes.TrimSpace(line)
	if lim.MaxBytes > 0 && len(b) > lim.MaxBytes {
		return nil, errorf(recoverID(b), CodeInvalidRequest, "message of %d bytes is larger than the limit of %d bytes", len(b), lim.MaxBytes)
	}
	canonical := lim.MaxDepth > 0
	if canonical {
		c, err := canonicalize(b, lim.MaxDepth)
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
			f.Items[i].Msg, f.Items[i].Err = parseMessage(raw)
			if canonical && f.Items[i].Msg != nil {
				f.Items[i].Msg.Raw = f.Items[i].Msg.encode()
			}
		}
		return f, nil
	}
	m, err := parseMessage(b)
	if err != nil {
		return nil, err
	}
	if canonical {
		m.Raw = m.encode()
	}
	return &Frame{Items: []Item{{Msg: m}}}, nil
}

// parseMessage reads the envelope of one message (valid JSON).
func parseMessage(raw json.RawMessage) (*Message, *Error) {
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

// Encode writes the message's envelope members, in a fixed order, as
// toolgate forwards them. Members read by Parse are canonical already
// (canonicalize) and copied as they are; a relay that replaces one (the
// params, say) must give it in toolgate's own encoding (Marshal).
func (m *Message) Encode() []byte { return m.encode() }

func (m *Message) encode() []byte {
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

func firstByte(b []byte) byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// idError explains an invalid id.
type idError string

func (e idError) Error() string { return string(e) }

// IDKey returns a key that is equal for equal ids: "s:" and the string for a
// string id, "n:" and the decimal integer for a number. MCP allows strings
// and integers; a number with a fraction, null, or anything else is refused.
// Numbers are compared by value because the upstream may write the id back
// differently (a JavaScript server answers request 1.0 with id 1).
func IDKey(id json.RawMessage) (string, error) {
	switch firstByte(id) {
	case '"':
		var s string
		if err := json.Unmarshal(id, &s); err != nil {
			return "", idError(`"id" is not a valid string`)
		}
		return "s:" + s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		n := string(bytes.TrimSpace(id))
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			return "n:" + strconv.FormatInt(i, 10), nil
		}
		f, err := strconv.ParseFloat(n, 64)
		// Within ±2^53 a float64 holds every integer exactly.
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return "", idError(`"id" must be a string or an integer`)
		}
		return "n:" + strconv.FormatInt(int64(f), 10), nil
	}
	return "", idError(`"id" must be a string or an integer`)
}

// Marshal encodes v as JSON without HTML escaping, so that the text toolgate
// passes on or stores (tool descriptions, arguments) keeps its characters;
// encoding/json sorts map keys, so equal maps encode alike.
func Marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return escapeLineBreaks(bytes.TrimRight(buf.Bytes(), "\n")), nil
}
