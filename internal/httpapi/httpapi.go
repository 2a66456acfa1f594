// Package httpapi is what toolgate's JSON HTTP APIs (AuthZEN, tasks,
// approvals) share, so that every endpoint answers errors alike:
// {"error": {"code": "<stable code>", "message": "…"}}, never cached, with a
// Bearer challenge on 401.
package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// WriteJSON writes v as the JSON response. Answers carry decisions, tokens
// and approvals: nothing in them may be cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorBody is the JSON body of every API error.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError writes an API error. A 401 carries the Bearer challenge.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	var b ErrorBody
	b.Error.Code, b.Error.Message = code, message
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="toolgate"`)
	}
	WriteJSON(w, status, b)
}

// Bearer returns the credential of an "Authorization: Bearer …" header
// (RFC 6750 §2.1). Tokens in query strings are never read: they end up in
// logs and browser history, and the MCP specification forbids them.
func Bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}
