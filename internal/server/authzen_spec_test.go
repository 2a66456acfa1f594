package server

import (
	"encoding/json"
	"strings"
	"testing"
)

// The examples of the AuthZEN Authorization API 1.0 specification, sent as
// they are written there (bodies verbatim), and the same requests with
// toolgate's resources (tool servers), for decisions of both kinds.

// specEvaluation is the specification's access evaluation request example.
const specEvaluation = `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "resource": {"type": "account", "id": "123"},
  "action": {"name": "can_read", "properties": {"method": "GET"}},
  "context": {"time": "1985-10-26T01:22-07:00"}
}`

// specEvaluations is its access evaluations (batch) request example.
const specEvaluations = `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "context": {"time": "2024-05-31T15:22-07:00"},
  "evaluations": [
    {"action": {"name": "can_read"}, "resource": {"type": "document", "id": "boxcarring.md"}},
    {"action": {"name": "can_read"}, "resource": {"type": "document", "id": "subject-search.md"}}
  ]
}`

type evalResponse struct {
	Decision *bool          `json:"decision"`
	Context  map[string]any `json:"context"`
}

func TestAuthZENSpecExamples(t *testing.T) {
	h := New(fixed{}, nil, nil).Handler()

	t.Run("evaluation", func(t *testing.T) {
		resp, body := do(t, h, "POST", "/access/v1/evaluation", specEvaluation, "Content-Type", "application/json", "X-Request-ID", "bfe9eb29-ab87-4ca3-be83-a1d5d8305716")
		var r evalResponse
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &r) != nil || r.Decision == nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		// An account is not a tool server: a decision, false, with the reason.
		if *r.Decision || !strings.Contains(body, "reason_user") {
			t.Errorf("decision = %s", body)
		}
		if resp.Header.Get("X-Request-ID") != "bfe9eb29-ab87-4ca3-be83-a1d5d8305716" {
			t.Errorf("X-Request-ID not echoed")
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	})

	t.Run("evaluation, toolgate's resources", func(t *testing.T) {
		for action, want := range map[string]bool{"ok": true, "can_read": false} {
			body := strings.NewReplacer(`"account"`, `"server"`, `"can_read"`, `"`+action+`"`).Replace(specEvaluation)
			resp, out := do(t, h, "POST", "/access/v1/evaluation", body)
			var r evalResponse
			if resp.StatusCode != 200 || json.Unmarshal([]byte(out), &r) != nil || r.Decision == nil || *r.Decision != want {
				t.Errorf("%s: %d %s", action, resp.StatusCode, out)
			}
		}
	})

	t.Run("evaluations", func(t *testing.T) {
		resp, body := do(t, h, "POST", "/access/v1/evaluations", specEvaluations)
		var r struct {
			Evaluations []evalResponse `json:"evaluations"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &r) != nil || len(r.Evaluations) != 2 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		for _, e := range r.Evaluations {
			if e.Decision == nil || *e.Decision {
				t.Errorf("evaluation = %+v", e)
			}
		}
	})

	// The three evaluations_semantic options, on a batch whose decisions
	// are deny, allow, deny: execute_all answers all three; deny_on_first_deny
	// stops at the first (a deny); permit_on_first_permit at the second.
	batch := func(semantic string) string {
		b := `{"subject": {"type": "user", "id": "alice@example.com"},
  "resource": {"type": "server", "id": "docs"},
  "evaluations": [{"action": {"name": "can_read"}}, {"action": {"name": "ok"}}, {"action": {"name": "can_write"}}]`
		if semantic != "" {
			b += `, "options": {"evaluations_semantic": "` + semantic + `"}`
		}
		return b + "}"
	}
	for _, tt := range []struct {
		semantic string
		want     []bool
	}{
		{"", []bool{false, true, false}},
		{"execute_all", []bool{false, true, false}},
		{"deny_on_first_deny", []bool{false}},
		{"permit_on_first_permit", []bool{false, true}},
	} {
		t.Run("semantic "+tt.semantic, func(t *testing.T) {
			resp, body := do(t, h, "POST", "/access/v1/evaluations", batch(tt.semantic))
			var r struct {
				Evaluations []evalResponse `json:"evaluations"`
			}
			if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &r) != nil || len(r.Evaluations) != len(tt.want) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			for i, w := range tt.want {
				if d := r.Evaluations[i].Decision; d == nil || *d != w {
					t.Errorf("evaluations[%d] = %s", i, body)
				}
			}
		})
	}
	if resp, body := do(t, h, "POST", "/access/v1/evaluations", batch("first_come")); resp.StatusCode != 400 {
		t.Errorf("unknown semantic: %d %s", resp.StatusCode, body)
	}

	t.Run("discovery", func(t *testing.T) {
		resp, body := do(t, h, "GET", "/.well-known/authzen-configuration", "")
		var md map[string]string
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &md) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		for k, v := range map[string]string{
			"policy_decision_point":       "http://example.com",
			"access_evaluation_endpoint":  "http://example.com/access/v1/evaluation",
			"access_evaluations_endpoint": "http://example.com/access/v1/evaluations",
		} {
			if md[k] != v {
				t.Errorf("%s = %q, want %q", k, md[k], v)
			}
		}
	})
}
