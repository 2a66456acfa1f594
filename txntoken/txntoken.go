// Package txntoken is for tool servers behind toolgate: it verifies the
// per-call credential toolgate sends with every call it allowed, a
// Transaction Token (draft-ietf-oauth-transaction-tokens) good for one call
// only — this tool, these arguments, a few seconds, once.
//
// A token reaches an HTTP MCP server in the Txn-Token header (or as
// Authorization: Bearer, if toolgate is configured so) and a stdio MCP
// server in the tools/call's params._meta under MetaKey. The server checks
// it with a Verifier:
//
//	v, err := txntoken.New(txntoken.Options{
//		JWKSURL:  "https://toolgate.example.com/.well-known/jwks.json",
//		Audience: "https://tools.example.com/mcp", // this server, as toolgate names it
//	})
//	http.Handle("/mcp", v.Middleware(mcpHandler))
//
// Verify checks the signature against toolgate's JWKS (fetched and cached,
// refetched for a key it does not know), the type, issuer, audience and
// expiry, that the token names the tool called and the SHA-256 of the RFC
// 8785 canonical form of the arguments received, and finally that it was
// never used before (a replay cache keeps every token id until it expires).
// The token format is a contract: docs/credentials.md.
package txntoken

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/jcs"
)

// Names that are part of the contract between toolgate and tool servers.
const (
	// Type is the JOSE "typ" header of a per-call token.
	Type = "txntoken+jwt"
	// HeaderName is the HTTP header that carries the token by default.
	HeaderName = "Txn-Token"
	// MetaKey is the params._meta key of a tools/call that carries the token
	// to a stdio server.
	MetaKey = "toolgate/txn-token"
	// AccessTokenMetaKey is the params._meta key that carries an access
	// token obtained by token exchange to a stdio server (an HTTP server gets
	// it as Authorization: Bearer).
	AccessTokenMetaKey = "toolgate/access-token"
	// DefaultIssuer is toolgate's default "iss" (keys.issuer in its config).
	DefaultIssuer = "toolgate"
)

// MaxTokenBytes bounds a token the verifier will parse. A per-call token is
// a few hundred bytes; the chain makes it longer, never this long.
const MaxTokenBytes = 16 << 10

// Claims is the payload of a per-call token:
//
//	{"iss": "toolgate", "aud": "https://tools.example.com/mcp",
//	 "iat": 1767225600, "exp": 1767225660, "jti": "…",
//	 "txn": "<decision id>", "sub": "alice", "req_wl": "research-agent",
//	 "scope": "github/create_issue",
//	 "tctx": {"task": "tsk_…", "tool": "create_issue",
//	          "input_sha256": "<hex>", "chain": ["research-agent", "orchestrator"]}}
type Claims struct {
	Issuer string `json:"iss"`
	// Audience is the upstream the token is for (one value).
	Audience jwt.Audience     `json:"aud"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	Expiry   *jwt.NumericDate `json:"exp"`
	// ID is unique per token; a token is used once.
	ID string `json:"jti"`
	// Txn is toolgate's decision id: the audit record of the call.
	Txn string `json:"txn"`
	// Subject is the human the call is made for (the agent's owner), or
	// the caller itself when it acts for nobody.
	Subject string `json:"sub"`
	// RequestingWorkload is the agent that made the call (absent when a
	// human called directly).
	RequestingWorkload string `json:"req_wl,omitempty"`
	// Scope is the tool action, "<server>/<tool>" as toolgate's policies
	// name it.
	Scope   string  `json:"scope"`
	Context Context `json:"tctx"`
}

// Context is the "tctx" claim: what exactly the token allows.
type Context struct {
	// Task is the task the call serves ("" for none).
	Task string `json:"task,omitempty"`
	// Tool is the tool's name as the server knows it (params.name).
	Tool string `json:"tool"`
	// InputSHA256 is the lowercase hex SHA-256 of the RFC 8785 canonical
	// form of the call's arguments (InputSHA256).
	InputSHA256 string `json:"input_sha256"`
	// Chain is the delegation chain, the current agent first.
	Chain []string `json:"chain,omitempty"`
}

// InputSHA256 is the digest a token binds the arguments with: the lowercase
// hex SHA-256 of the RFC 8785 (JSON Canonicalization Scheme) form of args,
// where no arguments (empty or null) count as {}.
//
// Arguments that RFC 8785 cannot represent exactly are refused, by toolgate
// when it mints and here when a server checks: invalid JSON or UTF-8,
// duplicate keys, and numbers with more digits than a double holds
// (9007199254740993), which would share a canonical form with another
// number and so let a token for one call fit another.
func InputSHA256(args json.RawMessage) (string, error) {
	if t := bytes.TrimSpace(args); len(t) == 0 || string(t) == "null" {
		args = json.RawMessage("{}")
	}
	canon, err := jcs.Exact(args)
	if err != nil {
		return "", fmt.Errorf("the arguments cannot be canonicalized (RFC 8785): %w", err)
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}
