// Package upstream is the gateway's side towards MCP servers: one session
// with an upstream server on behalf of one client session, over Streamable
// HTTP (a remote server) or stdio (a child process the gateway manages).
//
// A Conn moves JSON-RPC messages as bytes; it judges nothing. The HTTP
// gateway (internal/mcp/httpgw) decides what may be sent, and enforcement
// happens there, through internal/mcp/gate, before Call is used for a
// tools/call.
package upstream

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/toolgate/toolgate/internal/call"
)

// Request is a request for the upstream.
type Request struct {
	// Raw is the JSON-RPC request as it goes upstream.
	Raw    []byte
	ID     json.RawMessage
	Method string
	// Cred is the per-call credential of an allowed tools/call (nil when
	// none was minted, and for every other method).
	Cred *call.Credential
}

// Conn is a session with an upstream server for one client session.
type Conn interface {
	// Call sends a request and returns the server's response to it. What the
	// server sends in relation to the request before the response (progress,
	// logging, requests to the client) goes to related, in order.
	Call(ctx context.Context, r *Request, related func(msg []byte)) ([]byte, error)
	// Send sends a notification, or a response to a request of the server.
	Send(ctx context.Context, msg []byte) error
	// Close ends the session.
	Close() error
}

// Upstream opens sessions with one server.
type Upstream interface {
	// Open starts a session; unrelated receives what the server sends on its
	// own (notifications, requests to the client) outside any request.
	Open(ctx context.Context, unrelated func(msg []byte)) (Conn, error)
	// Ready is nil when the server can take sessions (/readyz).
	Ready() error
	// Close stops what the upstream runs (child processes).
	Close() error
}

// Credential modes: how a per-call credential reaches an HTTP upstream.
const (
	// CredentialTxnToken sends it in the Txn-Token header (the default).
	CredentialTxnToken = "txn-token"
	// CredentialBearer sends it as Authorization: Bearer, for upstreams
	// that take OAuth access tokens.
	CredentialBearer = "bearer"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("the upstream session is closed")
