package jsonrpc

import (
	"encoding/json"
	"fmt"
)

// Standard JSON-RPC 2.0 error codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
	// CodeUpstream (implementation-defined server error range): the upstream
	// server cannot answer, because it exited or sent something unusable.
	CodeUpstream = -32000
)

// Error is a JSON-RPC error about one message. ID is the id of the message
// the error answers, when it could be read; the response then carries it so
// the client can match the error to its request.
type Error struct {
	ID      json.RawMessage
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (JSON-RPC error %d)", e.Message, e.Code) }

// Response encodes the error as a JSON-RPC response.
func (e *Error) Response() []byte { return ErrorResponse(e.ID, e.Code, e.Message, nil) }

func errorf(id json.RawMessage, code int, format string, args ...any) *Error {
	return &Error{ID: id, Code: code, Message: fmt.Sprintf(format, args...)}
}

// wireError is the error object of a response.
type wireError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

type wireResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *wireError      `json:"error,omitempty"`
}

// ErrorResponse encodes an error response. A nil id becomes null, as
// JSON-RPC requires when the request's id could not be read.
func ErrorResponse(id json.RawMessage, code int, message string, data any) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, err := json.Marshal(wireResponse{JSONRPC: Version, ID: id, Error: &wireError{Code: code, Message: message, Data: data}})
	if err != nil {
		// Only data can fail to encode; drop it rather than the answer.
		b, _ = json.Marshal(wireResponse{JSONRPC: Version, ID: id, Error: &wireError{Code: code, Message: message}})
	}
	return b
}

// ResultResponse encodes a successful response.
func ResultResponse(id, result json.RawMessage) ([]byte, error) {
	return json.Marshal(wireResponse{JSONRPC: Version, ID: id, Result: result})
}
