package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/call"
)

type fixed struct{}

func (fixed) Decide(_ context.Context, c *call.Call) call.Decision {
	if c.Tool.Name == "ok" {
		return call.Decision{ID: "d1", Effect: call.Allow, Policies: []string{"p"}}
	}
	return call.Decision{ID: "d2", Effect: call.Deny, Policies: []string{}, Reasons: []call.Reason{{Kind: call.ReasonNoPermit, Message: "no"}}}
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(b)
}

func TestEndpoints(t *testing.T) {
	healthy := error(nil)
	h := New(fixed{}, nil, map[string]Check{"audit": func() error { return healthy }}).Handler()
	const subj = `"subject":{"type":"agent","id":"a"},"resource":{"type":"server","id":"s"}`
	tests := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/access/v1/evaluation", `{` + subj + `,"action":{"name":"s/ok"}}`, 200, `"decision":true`},
		{"POST", "/access/v1/evaluation", `{` + subj + `,"action":{"name":"s/no"}}`, 200, `"reason_user":{"en":"no"}`},
		{"POST", "/access/v1/evaluation", `{`, 400, `"code":"request.invalid"`},
		{"POST", "/access/v1/evaluation", `{` + subj + `,"action":{"name":"s/ok"},"context":{"time":"1985-10-26T01:22-07:00"}}`, 200, `"decision":true`},
		{"POST", "/access/v1/evaluation", `{"subject":{"type":"x","id":"a"},"resource":{},"action":{"name":"s/ok"}}`, 400, `subject.type`},
		{"GET", "/access/v1/evaluation", ``, 405, `"code":"request.method"`},
		{"GET", "/nowhere", ``, 404, `"code":"request.not_found"`},
		{"POST", "/access/v1/evaluations", `{` + subj + `,"evaluations":[{"action":{"name":"s/ok"}},{"action":{"name":"s/no"}}]}`, 200, `{"evaluations":[{"decision":true`},
		{"POST", "/access/v1/evaluations", `{` + subj + `,"action":{"name":"s/ok"}}`, 200, `{"decision":true`},
		{"POST", "/access/v1/evaluations", `{` + subj + `}`, 400, `required`},
		{"GET", "/.well-known/authzen-configuration", ``, 200, `"access_evaluation_endpoint":"http://example.com/access/v1/evaluation"`},
		{"GET", "/healthz", ``, 200, `ok`},
		{"GET", "/readyz", ``, 200, `"audit":"ok"`},
	}
	for _, tt := range tests {
		resp, body := do(t, h, tt.method, tt.path, tt.body)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s %s: %d %s, want %d containing %s", tt.method, tt.path, tt.body, resp.StatusCode, body, tt.status, tt.want)
		}
	}
	healthy = errors.New("disk full")
	if resp, body := do(t, h, "GET", "/readyz", ""); resp.StatusCode != 503 || !strings.Contains(body, "disk full") {
		t.Errorf("readyz unhealthy: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, h, "GET", "/healthz", "", "X-Request-ID", "r-1"); resp.Header.Get("X-Request-ID") != "r-1" {
		t.Error("X-Request-ID not echoed")
	}
	big := `{` + subj + `,"action":{"name":"s/ok"},"context":{"input":{"x":"` + strings.Repeat("a", 5<<20) + `"}}}`
	if resp, body := do(t, h, "POST", "/access/v1/evaluation", big); resp.StatusCode != 413 {
		t.Errorf("oversized: %d %s", resp.StatusCode, body[:min(len(body), 200)])
	}
}
