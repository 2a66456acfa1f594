package task

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/frontdoor"
	"github.com/toolgate/toolgate/internal/httpapi"
	"github.com/toolgate/toolgate/internal/store"
)

// RFC 8693 names.
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeID        = "urn:ietf:params:oauth:token-type:id_token"
	// TokenTypeAPIKey names a toolgate API key as an actor token.
	TokenTypeAPIKey = "urn:toolgate:params:oauth:token-type:api_key"
)

// maxBodyBytes bounds a request to the task API.
const maxBodyBytes = 256 << 10

// Routes returns the task API: pattern → handler, for server.Handle.
//
//	POST   /v1/tasks                 create a root task (JSON CreateRequest)
//	GET    /v1/tasks                 list the tasks the caller may see
//	GET    /v1/tasks/{id}            one task
//	DELETE /v1/tasks/{id}            revoke a task and everything below it
//	DELETE /v1/agents/{id}/tasks     revoke every task of an agent (admins)
//	POST   /v1/token                 RFC 8693 token exchange: delegate
//
// Every route needs an authenticated caller: Authorization: Bearer with an
// identity token of a configured provider or an API key.
func (s *Service) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /v1/tasks":               http.HandlerFunc(s.handleCreate),
		"GET /v1/tasks":                http.HandlerFunc(s.handleList),
		"GET /v1/tasks/{id}":           http.HandlerFunc(s.handleGet),
		"DELETE /v1/tasks/{id}":        http.HandlerFunc(s.handleRevoke),
		"DELETE /v1/agents/{id}/tasks": http.HandlerFunc(s.handleRevokeAgent),
		// RFC 8693 §2.1: the request is a form.
		"POST /v1/token": frontdoor.Accept(http.HandlerFunc(s.handleToken), frontdoor.Form),
	}
}

// authenticate verifies the caller's bearer credential.
func (s *Service) authenticate(ctx context.Context, r *http.Request) (Caller, error) {
	raw, ok := httpapi.Bearer(r)
	if !ok {
		return Caller{}, call.Errorf("identity.missing", "the request needs Authorization: Bearer with an identity token or API key")
	}
	if s.o.Identity == nil || !s.o.Identity.Enabled() {
		return Caller{}, call.Errorf("identity.missing", "no identity provider or API key is configured, so nobody can use the task API over HTTP (use `toolgate task` on this machine)")
	}
	id, err := s.o.Identity.Verify(ctx, raw)
	if err != nil {
		return Caller{}, err
	}
	return Caller{Principal: id.Principal}, nil
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	caller, err := s.authenticate(r.Context(), r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req CreateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	iss, err := s.Create(r.Context(), caller, req)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusCreated, iss)
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	caller, err := s.authenticate(r.Context(), r)
	if err != nil {
		writeErr(w, err)
		return
	}
	q := r.URL.Query()
	f := store.TaskFilter{RootID: q.Get("root"), Agent: q.Get("agent"), Live: q.Get("live") == "true"}
	views, err := s.List(r.Context(), caller, f)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tasks": views})
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	caller, err := s.authenticate(r.Context(), r)
	if err != nil {
		writeErr(w, err)
		return
	}
	id := r.PathValue("id")
	t, err := s.o.Tasks.Task(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeErr(w, errf(CodeNotFound, "there is no task %s", id))
		return
	}
	if err != nil {
		writeErr(w, errf(CodeStore, "task %s cannot be read: %v", id, err))
		return
	}
	if !s.isAdmin(caller) {
		ok, err := s.onChain(r.Context(), t, caller.Principal)
		if err != nil {
			writeErr(w, err)
			return
		}
		if !ok {
			// Not 403: whether a task exists is not the caller's business.
			writeErr(w, errf(CodeNotFound, "there is no task %s", id))
			return
		}
	}
	spent, err := s.o.Budgets.BudgetSpent(r.Context(), id)
	if err != nil {
		writeErr(w, errf(CodeStore, "the budget of task %s cannot be read: %v", id, err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, viewOf(t, spent))
}

func (s *Service) handleRevoke(w http.ResponseWriter, r *http.Request) {
	caller, err := s.authenticate(r.Context(), r)
	if err != nil {
		writeErr(w, err)
		return
	}
	ids, err := s.Revoke(r.Context(), caller, r.PathValue("id"), r.URL.Query().Get("reason"))
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"revoked": nonNil(ids)})
}

func (s *Service) handleRevokeAgent(w http.ResponseWriter, r *http.Request) {
	caller, err := s.authenticate(r.Context(), r)
	if err != nil {
		writeErr(w, err)
		return
	}
	ids, err := s.RevokeAgent(r.Context(), caller, r.PathValue("id"), r.URL.Query().Get("reason"))
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"revoked": nonNil(ids)})
}

func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// TokenResponse is the RFC 8693 answer of POST /v1/token.
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	// TokenType is "N_A": a task token is not an OAuth access token.
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	Scope     string `json:"scope,omitempty"`
	Task      *View  `json:"task"`
}

// handleToken is RFC 8693 token exchange: subject_token is the parent's
// task token, actor_token the sub-agent's identity token, and the narrower
// scope is either `scope` (space-separated tool patterns) or `task_scope`
// (a JSON scope, for argument constraints or Cedar). Optional: purpose,
// expires_in (seconds), budget (JSON).
func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "invalid_request", CodeInvalid, "the request is not a form: "+err.Error())
		return
	}
	f := r.PostForm
	if g := f.Get("grant_type"); g != GrantTokenExchange {
		oauthErr(w, http.StatusBadRequest, "unsupported_grant_type", CodeInvalid, "grant_type must be "+GrantTokenExchange)
		return
	}
	caller, err := s.authenticate(r.Context(), r)
	if err != nil {
		oauthErr(w, http.StatusUnauthorized, "invalid_client", codeOf(err), err.Error())
		return
	}
	req := DelegateRequest{SubjectToken: f.Get("subject_token"), ActorToken: f.Get("actor_token"), Purpose: f.Get("purpose")}
	switch {
	case req.SubjectToken == "":
		oauthErr(w, http.StatusBadRequest, "invalid_request", CodeInvalid, "subject_token (the parent's task token) is required")
		return
	case f.Get("subject_token_type") != TokenTypeURI && f.Get("subject_token_type") != TokenTypeJWT:
		oauthErr(w, http.StatusBadRequest, "invalid_request", CodeInvalid, "subject_token_type must be "+TokenTypeURI)
		return
	case req.ActorToken == "":
		oauthErr(w, http.StatusBadRequest, "invalid_request", CodeInvalid, "actor_token (the sub-agent's identity token) is required")
		return
	}
	switch f.Get("actor_token_type") {
	case TokenTypeJWT, TokenTypeAccess, TokenTypeID, TokenTypeAPIKey:
	default:
		oauthErr(w, http.StatusBadRequest, "invalid_request", CodeInvalid, "actor_token_type must be a JWT, access token, ID token or "+TokenTypeAPIKey)
		return
	}
	if t := f.Get("requested_token_type"); t != "" && t != TokenTypeURI {
		oauthErr(w, http.StatusBadRequest, "invalid_request", CodeInvalid, "requested_token_type can only be "+TokenTypeURI)
		return
	}
	if a := f.Get("audience"); a != "" && a != Audience {
		oauthErr(w, http.StatusBadRequest, "invalid_target", CodeInvalid, "task tokens are for audience "+Audience)
		return
	}
	scopeText, jsonScope := f.Get("scope"), f.Get("task_scope")
	switch {
	case scopeText != "" && jsonScope != "":
		oauthErr(w, http.StatusBadRequest, "invalid_request", CodeInvalid, "give scope or task_scope, not both")
		return
	case scopeText != "":
		sc := Scope{}
		for _, t := range strings.Fields(scopeText) {
			sc.Tools = append(sc.Tools, ToolRule{Tool: t})
		}
		req.Scope = &sc
	case jsonScope != "":
		sc, err := ParseScope([]byte(jsonScope))
		if err != nil {
			oauthErr(w, http.StatusBadRequest, "invalid_scope", CodeScope, err.Error())
			return
		}
		req.Scope = &sc
	}
	if e := f.Get("expires_in"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n <= 0 || n > int64(s.cfg.MaxTTL/time.Second) {
			oauthErr(w, http.StatusBadRequest, "invalid_request", CodeTTL, "expires_in must be a positive number of seconds")
			return
		}
		req.TTL = time.Duration(n) * time.Second
	}
	if b := f.Get("budget"); b != "" {
		var bud Budget
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&bud); err != nil {
			oauthErr(w, http.StatusBadRequest, "invalid_request", CodeBudget, "budget: "+err.Error())
			return
		}
		req.Budget = &bud
	}
	iss, err := s.Delegate(r.Context(), caller, req)
	if err != nil {
		status, oerr := http.StatusBadRequest, "invalid_request"
		code := codeOf(err)
		switch {
		case code == CodeWidened || code == CodeScope:
			oerr = "invalid_scope"
		case code == CodeForbidden:
			status, oerr = http.StatusForbidden, "unauthorized_client"
		case code == CodeStore:
			status, oerr = http.StatusServiceUnavailable, "temporarily_unavailable"
		case strings.HasPrefix(code, "task.") && code != CodeTTL && code != CodeBudget && code != CodeDepth && code != CodeInvalid:
			oerr = "invalid_grant" // the subject token is bad
		case strings.HasPrefix(code, "identity."):
			oerr = "invalid_grant" // the actor token is bad
		}
		oauthErr(w, status, oerr, code, err.Error())
		return
	}
	resp := TokenResponse{
		AccessToken: iss.Token, IssuedTokenType: TokenTypeURI, TokenType: "N_A",
		ExpiresIn: int64(time.Until(iss.ExpiresAt) / time.Second), Scope: scopeText, Task: iss.Task,
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, resp)
}

func codeOf(err error) string {
	var c call.Coded
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return CodeInvalid
}

func decodeJSON(w http.ResponseWriter, r *http.Request, out any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return errf(CodeInvalid, "the request body cannot be read: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return errf(CodeInvalid, "the request is not valid JSON for this endpoint: %v", err)
	}
	return nil
}

// statusOf maps an error code to an HTTP status.
func statusOf(code string) int {
	switch {
	case code == CodeForbidden:
		return http.StatusForbidden
	case code == CodeNotFound:
		return http.StatusNotFound
	case code == CodeStore || code == "identity.jwks_unavailable":
		return http.StatusServiceUnavailable
	case strings.HasPrefix(code, "identity."):
		return http.StatusUnauthorized
	default:
		return http.StatusBadRequest
	}
}

func writeErr(w http.ResponseWriter, err error) {
	code := codeOf(err)
	httpapi.WriteError(w, statusOf(code), code, err.Error())
}

// oauthErr writes an RFC 6749 §5.2 error, with toolgate's stable code.
func oauthErr(w http.ResponseWriter, status int, oerr, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="toolgate"`)
	}
	httpapi.WriteJSON(w, status, map[string]string{"error": oerr, "error_description": desc, "toolgate_code": code})
}
