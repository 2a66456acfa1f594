package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/httpapi"
	"github.com/toolgate/toolgate/internal/identity"
)

func verifier(t *testing.T, key string, scope string) *identity.Verifier {
	t.Helper()
	v, err := identity.New(identity.Config{APIKeys: []identity.APIKeyConfig{{
		Hash: identity.HashAPIKey(key), ID: "bot", Groups: []string{"g"}, Claims: map[string]any{"scope": scope},
	}}}, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMiddleware(t *testing.T) {
	const key = "tgk_0123456789abcdef"
	var seen *Caller
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = From(r.Context()) })
	a := New(Options{Verifier: verifier(t, key, "mcp:tools other"), Scopes: []string{"mcp:tools"}})
	h := a.Wrap(next)
	run := func(authz string) *http.Response {
		req := httptest.NewRequest("POST", "http://gw.example:8470/mcp", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		seen = nil
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	meta := `resource_metadata="http://gw.example:8470/.well-known/oauth-protected-resource"`
	for authz, code := range map[string]string{"": "identity.missing", "Basic dXNlcjpwdw==": "identity.missing",
		"Bearer": "identity.missing", "Bearer tgk_wrong": identity.CodeAPIKey} {
		resp := run(authz)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), meta) || seen != nil {
			t.Errorf("%q: %d %q", authz, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		// The error body of every toolgate API.
		var b httpapi.ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || b.Error.Code != code || b.Error.Message == "" {
			t.Errorf("%q: body %+v (%v), want code %s", authz, b, err, code)
		}
	}
	if resp := run("bearer " + key); resp.StatusCode != 200 || seen == nil || seen.Principal.ID != "bot" || seen.Token != key {
		t.Errorf("valid key: %d %+v", resp.StatusCode, seen)
	}

	// Step-up: a token without a required scope is 403 insufficient_scope.
	h = New(Options{Verifier: verifier(t, key, "other"), Scopes: []string{"mcp:tools"}}).Wrap(next)
	resp := run("Bearer " + key)
	if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 403 || !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="mcp:tools"`) {
		t.Errorf("missing scope: %d %q", resp.StatusCode, wa)
	}

	// Without identity configured everything passes, unauthenticated.
	h = New(Options{}).Wrap(next)
	if resp := run(""); resp.StatusCode != 200 || seen == nil || seen.Token != "" {
		t.Errorf("no identity: %d %+v", resp.StatusCode, seen)
	}
}

func TestMetadata(t *testing.T) {
	a := New(Options{Resource: "https://tg.example.com/", Scopes: []string{"mcp:tools"}})
	rec := httptest.NewRecorder()
	a.Metadata([]string{"https://idp.example.com"}).ServeHTTP(rec, httptest.NewRequest("GET", MetadataPath, nil))
	var md map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil {
		t.Fatal(err)
	}
	if md["resource"] != "https://tg.example.com" || md["authorization_servers"].([]any)[0] != "https://idp.example.com" ||
		md["bearer_methods_supported"].([]any)[0] != "header" || md["scopes_supported"].([]any)[0] != "mcp:tools" {
		t.Errorf("metadata = %v", md)
	}
}
