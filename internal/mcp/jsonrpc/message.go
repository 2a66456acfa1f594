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
	"io"
	"math"
	"strconv"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
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
	fields, perr := topMembers(raw)
	if perr != nil {
		return nil, perr
	}
	m := &Message{Raw: raw}

	// The id first, so that every later error can name it.
	id, hasID := fields.id, fields.id != nil
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
	if v, ok := fields.jsonrpc, fields.jsonrpc != nil; !ok || string(v) != `"2.0"` {
		var s string
		if !ok || json.Unmarshal(v, &s) != nil || s != Version {
			return bad(`"jsonrpc" must be "2.0"`)
		}
	}
	method, hasMethod := fields.method, fields.method != nil
	result, hasResult := fields.result, fields.result != nil
	errObj, hasError := fields.error, fields.error != nil
	switch {
	case hasMethod:
		if s, ok := simpleString(method); ok {
			m.Method = s
		} else if err := json.Unmarshal(method, &m.Method); err != nil {
			return bad(`"method" must be a string`)
		}
		if hasResult || hasError {
			return bad("a message cannot be both a request and a response")
		}
		if p, ok := fields.params, fields.params != nil; ok {
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
		b = append(b, `,"method":`...)
		if isSimple(m.Method) {
			b = append(append(append(b, '"'), m.Method...), '"')
		} else {
			method, _ := Marshal(m.Method) // a string always encodes
			b = append(b, method...)
		}
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

// members are the top-level members of a message that JSON-RPC defines,
// each the raw bytes of its value in the message (nil when absent).
type members struct {
	jsonrpc, id, method, params, result, error json.RawMessage
}

// memberDecoders reuse decoders for topMembers.
var memberDecoders = sync.Pool{New: func() any {
	return &memberDecoder{dec: jsontext.NewDecoder(bytes.NewReader(nil))}
}}

type memberDecoder struct {
	in      bytes.Reader
	dec     *jsontext.Decoder
	unquote []byte
}

// topMembers reads raw as one JSON object and picks out its JSON-RPC
// members, with the same outcome as decoding it into a
// map[string]json.RawMessage with encoding/json (what it replaces, at a
// fraction of the allocations): invalid JSON is a parse error, another
// value than an object an invalid request; a name that appears twice takes
// its last value, and invalid UTF-8 is let through, as encoding/json does
// (a message read with a structure check was refused for both before).
func topMembers(raw []byte) (members, *Error) {
	var f members
	d := memberDecoders.Get().(*memberDecoder)
	defer func() {
		d.in.Reset(nil)
		d.dec.Reset(&d.in)
		memberDecoders.Put(d)
	}()
	d.in.Reset(raw)
	d.dec.Reset(&d.in, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	notObject := func() (members, *Error) {
		if !json.Valid(raw) {
			return f, errorf(nil, CodeParseError, "invalid JSON: not a JSON value")
		}
		return f, errorf(nil, CodeInvalidRequest, "a JSON-RPC message must be an object")
	}
	if d.dec.PeekKind() != '{' {
		return notObject()
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return f, errorf(nil, CodeParseError, "invalid JSON: %v", err)
	}
	for d.dec.PeekKind() == '"' {
		name, err := d.dec.ReadValue()
		if err != nil {
			return f, errorf(nil, CodeParseError, "invalid JSON: %v", err)
		}
		if bytes.IndexByte(name, '\\') >= 0 {
			if d.unquote, err = jsontext.AppendUnquote(d.unquote[:0], name); err != nil {
				d.unquote = d.unquote[:0] // not valid UTF-8: none of ours
			}
		} else {
			d.unquote = append(d.unquote[:0], name[1:len(name)-1]...)
		}
		v, err := d.dec.ReadValue()
		if err != nil {
			return f, errorf(nil, CodeParseError, "invalid JSON: %v", err)
		}
		end := int(d.dec.InputOffset())
		value := json.RawMessage(raw[end-len(v) : end : end])
		switch string(d.unquote) {
		case "jsonrpc":
			f.jsonrpc = value
		case "id":
			f.id = value
		case "method":
			f.method = value
		case "params":
			f.params = value
		case "result":
			f.result = value
		case "error":
			f.error = value
		}
	}
	if _, err := d.dec.ReadToken(); err != nil { // the closing brace
		return f, errorf(nil, CodeParseError, "invalid JSON: %v", err)
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return f, errorf(nil, CodeParseError, "invalid JSON: more than one value in one message")
	}
	return f, nil
}

// simpleString is the value of a JSON string with nothing to unescape
// (printable ASCII, no quote or backslash), or false.
func simpleString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(s), true
}

// isSimple tells whether s encodes as itself between quotes (see
// simpleString).
func isSimple(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
