package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/audit/audittest"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/server/auth"
)

// TestAuthZENWhoIsAsking sends AuthZEN requests over real HTTP with API
// keys: an agent may ask about itself (its stated groups are not
// believed), not about anyone else; a PEP that policy permits
// Action::"Evaluate" may ask for the people it serves. Every record names
// the authenticated caller.
func TestAuthZENWhoIsAsking(t *testing.T) {
	const botKey, pepKey = "tgk_bot0123456789abcdef", "tgk_pep0123456789abcdef"
	ids, err := identity.New(identity.Config{APIKeys: []identity.APIKeyConfig{
		{Hash: identity.HashAPIKey(botKey), ID: "bot", Groups: []string{"agents"}},
		{Hash: identity.HashAPIKey(pepKey), ID: "pep"},
	}}, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet("org", []policy.Source{{Name: "org.cedar", Text: []byte(`
@id("agents-read") permit(principal in Group::"agents", action == Action::"fs/read", resource);
@id("admins-delete") permit(principal in Group::"admins", action == Action::"fs/delete", resource);
@id("customers-read") permit(principal in Group::"customers", action == Action::"fs/read", resource);
@id("pep-asks-for-customers") permit(principal == Agent::"pep", action == Action::"Evaluate", resource in Group::"customers");
`)}})
	if err != nil {
		t.Fatal(err)
	}
	sink := &audittest.Sink{}
	pipe, err := enforce.New(enforce.Config{Policies: policy.NewStaticEngine(set), Audit: sink})
	if err != nil {
		t.Fatal(err)
	}
	s := New(pipe, nil, nil)
	s.Authenticate(auth.New(auth.Options{Verifier: ids}).Wrap)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	ask := func(key, body string) (bool, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/access/v1/evaluation", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out struct {
			Decision bool `json:"decision"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
		return out.Decision, string(b)
	}
	const read = `"action":{"name":"fs/read"},"resource":{"type":"server","id":"fs"}`
	const del = `"action":{"name":"fs/delete"},"resource":{"type":"server","id":"fs"}`
	for _, tc := range []struct {
		name, key, body string
		allowed         bool
		caller          string
	}{
		{"itself, no subject", botKey, `{` + read + `}`, true, "bot"},
		{"itself, named", botKey, `{"subject":{"type":"agent","id":"bot"},` + read + `}`, true, "bot"},
		{"itself, stating a group it is not in", botKey, `{"subject":{"type":"agent","id":"bot","properties":{"groups":["admins"]}},` + del + `}`, false, "bot"},
		{"another agent", botKey, `{"subject":{"type":"agent","id":"admin-bot","properties":{"groups":["admins"]}},` + del + `}`, false, "bot"},
		{"a person", botKey, `{"subject":{"type":"user","id":"carol","properties":{"groups":["customers"]}},` + read + `}`, false, "bot"},
		{"the PEP for a customer", pepKey, `{"subject":{"type":"user","id":"carol","properties":{"groups":["customers"]}},` + read + `}`, true, "pep"},
		{"the PEP for an admin", pepKey, `{"subject":{"type":"user","id":"root","properties":{"groups":["admins"]}},` + del + `}`, false, "pep"},
	} {
		got, body := ask(tc.key, tc.body)
		if got != tc.allowed {
			t.Errorf("%s: decision %v, want %v: %s", tc.name, got, tc.allowed, body)
		}
		if !tc.allowed && strings.Contains(tc.name, "another") && !strings.Contains(body, enforce.CodeOnBehalf) {
			t.Errorf("%s: %s", tc.name, body)
		}
		rec := sink.Decisions[len(sink.Decisions)-1]
		if rec.Caller == nil || rec.Caller.ID != tc.caller {
			t.Errorf("%s: the record's caller is %+v, want %s", tc.name, rec.Caller, tc.caller)
		}
	}
	// A batch is judged item by item, for the same caller.
	req, _ := http.NewRequest("POST", srv.URL+"/access/v1/evaluations", strings.NewReader(`{`+read+`,"evaluations":[
		{"subject":{"type":"agent","id":"bot"}}, {"subject":{"type":"agent","id":"other","properties":{"groups":["agents"]}}}, {}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+botKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var batch struct {
		Evaluations []struct {
			Decision bool `json:"decision"`
		} `json:"evaluations"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&batch)
	resp.Body.Close()
	if len(batch.Evaluations) != 3 || !batch.Evaluations[0].Decision || batch.Evaluations[1].Decision || !batch.Evaluations[2].Decision {
		t.Errorf("batch: %+v", batch)
	}
}
