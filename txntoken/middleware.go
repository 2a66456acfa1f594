package txntoken

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// DefaultMaxBodyBytes bounds the request body the middleware reads.
const DefaultMaxBodyBytes = 4 << 20

// CodeRejected is the JSON-RPC error code of a tools/call whose token was
// rejected.
const CodeRejected = -32001

type claimsKey struct{}

// ClaimsFrom returns the claims of the token the middleware verified for
// the request, or nil.
func ClaimsFrom(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// TokenFrom returns the per-call token of an HTTP request: the Txn-Token
// header, else an Authorization: Bearer token (toolgate's "bearer" mode).
// With Txn-Token present, Authorization is left alone: it may carry an
// access token toolgate obtained for the server by token exchange.
func TokenFrom(h http.Header) string {
	if t := h.Get(HeaderName); t != "" {
		return t
	}
	if a := h.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// Middleware verifies the per-call token of every tools/call that reaches an
// MCP Streamable HTTP server (a POST whose JSON-RPC request has method
// "tools/call") before next sees it: signature, issuer, audience, expiry,
// tool, arguments, single use. A call without a valid token is answered by
// the middleware — HTTP 401 (no or invalid token) or 403 (a valid token for
// another call), with a JSON-RPC error naming the reason — and never reaches
// next. Other messages (initialize, tools/list, notifications, GET streams)
// pass through: toolgate mints tokens for tool calls only. A batch that holds
// a tools/call is refused, since one request carries one token. next finds
// the verified claims with ClaimsFrom(r.Context()).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, DefaultMaxBodyBytes+1))
		r.Body.Close()
		if err != nil {
			http.Error(w, "cannot read the request", http.StatusBadRequest)
			return
		}
		if len(body) > DefaultMaxBodyBytes {
			http.Error(w, "the request is too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		msg, batchCall, ok := toolCall(body)
		switch {
		case !ok:
			reject(w, nil, http.StatusBadRequest, rejectf(ReasonMalformed, "the request is not a JSON-RPC message this server can check (invalid JSON, or duplicate keys)"))
			return
		case batchCall:
			reject(w, nil, http.StatusBadRequest, rejectf(ReasonMalformed, "a JSON-RPC batch may not hold a tools/call: each call carries its own token"))
			return
		case msg == nil || msg.Method != "tools/call": // a batch without a call, or another method
			next.ServeHTTP(w, r)
			return
		}
		c, err := v.Verify(r.Context(), TokenFrom(r.Header), msg.Name, msg.Args)
		if err != nil {
			e, _ := err.(*Error)
			if e == nil {
				e = rejectf(ReasonClaims, "%v", err)
			}
			status := http.StatusUnauthorized
			if e.IsBinding() {
				status = http.StatusForbidden
			}
			reject(w, msg.ID, status, e)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

type callMessage struct {
	ID     json.RawMessage
	Method string
	Name   string
	Args   json.RawMessage
}

// toolCall reads a request body: the tools/call it holds, or whether a batch
// holds one. The body is read strictly — duplicate keys (also ones that
// differ only in case) and anything that is not JSON are refused (ok false)
// — so that no JSON parser the server may use can read a tools/call where
// this one read something else.
func toolCall(body []byte) (msg *callMessage, batchCall, ok bool) {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(b, &batch) != nil {
			return nil, false, false
		}
		for _, raw := range batch {
			m, ok := readMessage(raw)
			if !ok {
				return nil, false, false
			}
			if m.Method == "tools/call" {
				return nil, true, true
			}
		}
		return nil, false, true
	}
	m, ok := readMessage(b)
	return m, false, ok
}

func readMessage(raw []byte) (*callMessage, bool) {
	obj, ok := strictObject(raw)
	if !ok {
		return nil, false
	}
	m := &callMessage{ID: obj["id"]}
	if v, has := obj["method"]; has && json.Unmarshal(v, &m.Method) != nil {
		return nil, false
	}
	if m.Method != "tools/call" {
		return m, true
	}
	params, ok := strictObject(obj["params"])
	if !ok {
		return nil, false
	}
	if json.Unmarshal(params["name"], &m.Name) != nil {
		return nil, false
	}
	m.Args = params["arguments"]
	return m, true
}

// strictObject decodes a JSON object's members by their lower-case keys
// (some servers' JSON parsers match keys without regard to case, so
// "Method" must count as "method"), refusing keys that fold to the same
// lower case and keys that are not ASCII.
func strictObject(raw []byte) (map[string]json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := t.(string)
		if !isASCII(key) {
			// Unicode case folding makes "argumentſ" match "arguments"
			// in some parsers; no MCP key needs more than ASCII.
			return nil, false
		}
		key = strings.ToLower(key)
		if _, dup := out[key]; dup {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out[key] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return out, true
}

func reject(w http.ResponseWriter, id json.RawMessage, status int, e *Error) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error": map[string]any{
			"code":    CodeRejected,
			"message": e.Error(),
			"data":    map[string]string{"reason": e.Reason},
		},
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(e.Reason, `"`, "")+`"`)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
