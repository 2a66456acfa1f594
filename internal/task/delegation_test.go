package task_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/identity/idptest"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store/sqlite"
	"github.com/toolgate/toolgate/internal/task"
)

// env is toolgate's task machinery on real parts: the zitadel OP issuing
// the agents' identity tokens, signing keys in a data directory, SQLite, the
// task API over HTTP, and the enforcement pipeline.
type env struct {
	t    *testing.T
	op   *idptest.OP
	svc  *task.Service
	api  *httptest.Server
	pipe *enforce.Pipeline
	db   *sqlite.DB
	dir  string
	tk   *keys.Tokens
}

// The organisation's layer allows much (so that the task layers are what
// narrows) but not everything.
const orgPolicy = `
@id("agents-may-call") permit(principal in Group::"agents", action, resource);
@id("no-deletes") @reason("deleting files is not allowed") forbid(principal, action == Action::"fs/delete_file", resource);
`

func newEnv(t *testing.T) *env {
	t.Helper()
	op := idptest.Start(t,
		idptest.Client{ID: "orchestrator", Secret: "o", Claims: map[string]any{"groups": []string{"agents"}, "act_for": "alice"}},
		idptest.Client{ID: "researcher", Secret: "r", Claims: map[string]any{"groups": []string{"agents"}}},
		idptest.Client{ID: "summariser", Secret: "s", Claims: map[string]any{"groups": []string{"agents"}}},
		idptest.Client{ID: "mallory", Secret: "m", Claims: map[string]any{"groups": []string{"agents"}}},
	)
	ids, err := identity.New(identity.Config{Issuers: []identity.IssuerConfig{{Issuer: op.Issuer, Audience: []string{"toolgate"}, OwnerClaim: "act_for"}}},
		identity.Options{MinRefetch: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kp, err := keys.OpenFile(dir, keys.Config{}, keys.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tk := keys.NewTokens(kp, "toolgate")
	svc, err := task.New(task.Config{MaxDepth: 3}, task.Options{Tokens: tk, Tasks: db, Budgets: db, Identity: ids})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range svc.Routes() {
		mux.Handle(p, h)
	}
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)
	org, err := policy.NewSet("org", []policy.Source{{Name: "org.cedar", Text: []byte(orgPolicy)}})
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := enforce.New(enforce.Config{
		Policies: policy.NewStaticEngine(org),
		Identify: &identity.Stage{Verifier: ids},
		Task:     svc,
		Budget:   svc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, op: op, svc: svc, api: api, pipe: pipe, db: db, dir: dir, tk: tk}
}

// call makes one tool call through the pipeline as agent, presenting its
// identity token and a task token.
func (e *env) call(agent, taskToken, action, input string) call.Decision {
	e.t.Helper()
	server, tool, _ := strings.Cut(action, "/")
	if input == "" {
		input = "{}"
	}
	c := &call.Call{IdentityToken: e.op.Token(e.t, agent), TaskToken: taskToken,
		Server: call.Server{Name: server}, Tool: call.Tool{Name: tool}, Input: json.RawMessage(input)}
	return e.pipe.Decide(context.Background(), c)
}

func (e *env) allow(agent, tok, action, input string) {
	e.t.Helper()
	if d := e.call(agent, tok, action, input); d.Effect != call.Allow {
		e.t.Fatalf("%s %s %s: %s (%s, layer %s)", agent, action, input, d.Effect, d.ReasonText(), d.Layer)
	}
}

// deny checks a deny and returns its reason.
func (e *env) deny(agent, tok, action, input, want string) call.Decision {
	e.t.Helper()
	d := e.call(agent, tok, action, input)
	if d.Effect != call.Deny {
		e.t.Fatalf("%s %s %s: %s, want deny", agent, action, input, d.Effect)
	}
	if got := d.ReasonText() + " [" + reasonCode(d) + "] layer=" + d.Layer; !strings.Contains(got, want) {
		e.t.Fatalf("%s %s %s: reason %q does not mention %q", agent, action, input, got, want)
	}
	return d
}

func reasonCode(d call.Decision) string {
	for _, r := range d.Reasons {
		if r.Code != "" {
			return r.Code
		}
	}
	return ""
}

func (e *env) do(method, path, auth string, body io.Reader, contentType string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.api.URL+path, body)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *env) create(agent string, req map[string]any) (string, string) {
	e.t.Helper()
	b, _ := json.Marshal(req)
	status, out := e.do("POST", "/v1/tasks", e.op.Token(e.t, agent), strings.NewReader(string(b)), "application/json")
	if status != http.StatusCreated {
		e.t.Fatalf("create task: %d %v", status, out)
	}
	return out["task_token"].(string), out["task"].(map[string]any)["id"].(string)
}

// exchange is RFC 8693 token exchange at /v1/token.
func (e *env) exchange(parent, parentTok, child string, form url.Values) (int, map[string]any) {
	e.t.Helper()
	form.Set("grant_type", task.GrantTokenExchange)
	form.Set("subject_token", parentTok)
	form.Set("subject_token_type", task.TokenTypeURI)
	form.Set("actor_token", e.op.Token(e.t, child))
	form.Set("actor_token_type", task.TokenTypeJWT)
	return e.do("POST", "/v1/token", e.op.Token(e.t, parent), strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

func (e *env) delegate(parent, parentTok, child string, form url.Values) (string, string) {
	e.t.Helper()
	status, out := e.exchange(parent, parentTok, child, form)
	if status != http.StatusOK {
		e.t.Fatalf("delegate %s → %s: %d %v", parent, child, status, out)
	}
	if out["issued_token_type"] != task.TokenTypeURI || out["token_type"] != "N_A" {
		e.t.Fatalf("token response: %v", out)
	}
	return out["access_token"].(string), out["task"].(map[string]any)["id"].(string)
}

// TestThreeHopDelegation: orchestrator → researcher → summariser, each hop
// narrower; each hop's allowed and denied calls; widening refused; a budget
// running out; revoking the middle hop denies both lower hops at once.
func TestThreeHopDelegation(t *testing.T) {
	e := newEnv(t)

	// The orchestrator creates its own task (acting for alice, from its
	// identity token's act_for claim).
	orchTok, orchID := e.create("orchestrator", map[string]any{
		"purpose": "write the quarterly research report",
		"ttl":     "1h",
		"scope": map[string]any{"tools": []any{
			"fs/*", "web/fetch",
			map[string]any{"tool": "db/query", "where": map[string]any{"database": map[string]any{"in": []string{"analytics", "reports"}}, "limit": map[string]any{"max": 100}}},
		}},
		"budget": map[string]any{"total": 20},
	})

	// Hop 0: the orchestrator.
	e.allow("orchestrator", orchTok, "fs/write_file", `{"path": "/workspace/report.md"}`)
	e.allow("orchestrator", orchTok, "db/query", `{"database": "reports", "limit": 100}`)
	e.deny("orchestrator", orchTok, "mail/send", "", `layer "task:`+orchID+`"`)
	e.deny("orchestrator", orchTok, "db/query", `{"database": "prod", "limit": 1}`, "task:"+orchID)
	e.deny("orchestrator", orchTok, "fs/delete_file", "", "deleting files is not allowed") // the org layer still applies

	// Hop 1: the researcher gets reading and analytics only.
	resTok, resID := e.delegate("orchestrator", orchTok, "researcher", url.Values{
		"task_scope": {`{"tools": ["fs/read_file", "web/fetch",
			{"tool": "fs/search_files", "where": {"path": {"under": "/workspace"}}},
			{"tool": "db/query", "where": {"database": {"equals": "analytics"}, "limit": {"max": 50}}}]}`},
		"purpose":    {"collect sources"},
		"expires_in": {"1800"},
		"budget":     {`{"total": 10}`},
	})
	e.allow("researcher", resTok, "fs/read_file", `{"path": "/workspace/notes.md"}`)
	e.allow("researcher", resTok, "fs/search_files", `{"path": "/workspace/src"}`)
	e.allow("researcher", resTok, "db/query", `{"database": "analytics", "limit": 50}`)
	e.deny("researcher", resTok, "fs/write_file", `{"path": "/workspace/x"}`, "hop1:"+resID)
	e.deny("researcher", resTok, "fs/search_files", `{"path": "/workspace/../etc"}`, "hop1:"+resID)
	e.deny("researcher", resTok, "db/query", `{"database": "reports", "limit": 5}`, "hop1:"+resID)
	e.deny("researcher", resTok, "db/query", `{"database": "analytics", "limit": 51}`, "hop1:"+resID)
	// A token is bound to its agent, both ways.
	e.deny("researcher", orchTok, "fs/read_file", "", task.CodeWrongAgent)
	e.deny("orchestrator", resTok, "fs/read_file", "", task.CodeWrongAgent)

	// Widening is refused, naming the excess.
	status, out := e.exchange("researcher", resTok, "summariser", url.Values{"scope": {"fs/read_file fs/write_file"}})
	if status != http.StatusBadRequest || out["error"] != "invalid_scope" || out["toolgate_code"] != task.CodeWidened ||
		!strings.Contains(out["error_description"].(string), "fs/write_file") {
		t.Fatalf("widening: %d %v", status, out)
	}
	status, out = e.exchange("researcher", resTok, "summariser", url.Values{"task_scope": {`{"tools": [{"tool": "db/query", "where": {"database": {"equals": "analytics"}}}]}`}})
	if status != http.StatusBadRequest || !strings.Contains(out["error_description"].(string), `argument "limit"`) {
		t.Fatalf("dropping a constraint: %d %v", status, out)
	}
	status, out = e.exchange("researcher", resTok, "summariser", url.Values{"scope": {"fs/read_file"}, "expires_in": {"3600"}})
	if status != http.StatusBadRequest || out["toolgate_code"] != task.CodeTTL {
		t.Fatalf("longer ttl: %d %v", status, out)
	}
	status, out = e.exchange("researcher", resTok, "summariser", url.Values{"scope": {"fs/read_file"}, "budget": {`{"total": 50}`}})
	if status != http.StatusBadRequest || out["toolgate_code"] != task.CodeBudget {
		t.Fatalf("bigger budget: %d %v", status, out)
	}
	// Only the token's own agent may delegate it.
	status, out = e.exchange("mallory", resTok, "mallory", url.Values{"scope": {"fs/read_file"}})
	if status != http.StatusForbidden || out["toolgate_code"] != task.CodeForbidden {
		t.Fatalf("delegation by another agent: %d %v", status, out)
	}

	// Hop 2: the summariser reads, three times at most.
	sumTok, sumID := e.delegate("researcher", resTok, "summariser", url.Values{
		"scope":  {"fs/read_file"},
		"budget": {`{"total": 3}`},
	})
	var chain []string
	var depth int
	c := &call.Call{IdentityToken: e.op.Token(t, "summariser"), TaskToken: sumTok, Server: call.Server{Name: "fs"}, Tool: call.Tool{Name: "read_file"}, Input: json.RawMessage(`{}`)}
	if d := e.pipe.Decide(context.Background(), c); d.Effect != call.Allow {
		t.Fatalf("summariser read: %s %s", d.Effect, d.ReasonText())
	}
	chain, depth = c.Chain, c.Task.Depth
	if !slices.Equal(chain, []string{"summariser", "researcher", "orchestrator"}) || depth != 2 || c.Task.ID != sumID ||
		c.Task.Root != orchID || c.Task.Purpose != "collect sources" || c.Principal.Owner != "alice" {
		t.Fatalf("chain %v depth %d task %+v owner %q", chain, depth, c.Task, c.Principal.Owner)
	}
	e.deny("summariser", sumTok, "web/fetch", `{"url": "https://example.com"}`, "hop2:"+sumID)
	e.deny("summariser", sumTok, "fs/search_files", `{"path": "/workspace"}`, "hop2:"+sumID)
	e.allow("summariser", sumTok, "fs/read_file", `{"path": "/workspace/a"}`)
	e.allow("summariser", sumTok, "fs/read_file", `{"path": "/workspace/b"}`)
	d := e.deny("summariser", sumTok, "fs/read_file", `{"path": "/workspace/c"}`, task.CodeBudgetExhausted)
	if !strings.Contains(d.ReasonText(), sumID) {
		t.Fatalf("budget reason does not name the task: %s", d.ReasonText())
	}
	// Each call spent from every hop above too: 3 of the researcher's 10
	// went to the summariser's calls, plus the researcher's own 3 allowed.
	spent, _ := e.db.BudgetSpent(context.Background(), resID)
	if spent[""] != 6 {
		t.Fatalf("researcher's budget spent %v, want 6", spent)
	}

	// The summariser may not revoke above itself; the orchestrator may
	// revoke what it delegated.
	status, out = e.do("DELETE", "/v1/tasks/"+orchID, e.op.Token(t, "summariser"), nil, "")
	if status != http.StatusForbidden {
		t.Fatalf("summariser revoking the root: %d %v", status, out)
	}
	status, out = e.do("DELETE", "/v1/tasks/"+resID+"?reason=sources+collected", e.op.Token(t, "orchestrator"), nil, "")
	if status != http.StatusOK || len(out["revoked"].([]any)) != 2 {
		t.Fatalf("revoke the middle hop: %d %v", status, out)
	}
	// Both lower hops are denied at once; the root is not affected.
	e.deny("researcher", resTok, "fs/read_file", "", task.CodeRevoked)
	d = e.deny("summariser", sumTok, "fs/read_file", "", task.CodeRevoked)
	if !strings.Contains(d.ReasonText(), resID) || !strings.Contains(d.ReasonText(), "sources collected") {
		t.Fatalf("revocation reason: %s", d.ReasonText())
	}
	e.allow("orchestrator", orchTok, "fs/read_file", "")
	// The audit record of a denied call still names the task, its purpose
	// and the chain.
	c = &call.Call{IdentityToken: e.op.Token(t, "summariser"), TaskToken: sumTok, Server: call.Server{Name: "fs"}, Tool: call.Tool{Name: "read_file"}, Input: json.RawMessage(`{}`)}
	d = e.pipe.Decide(context.Background(), c)
	rec := audit.NewRecord(c, &d, nil)
	if d.Effect != call.Deny || rec.TaskID != sumID || rec.Purpose != "collect sources" ||
		!slices.Equal(rec.Chain, []string{"summariser", "researcher", "orchestrator"}) || rec.OnBehalfOf != "" && rec.OnBehalfOf != "alice" {
		t.Fatalf("audit record of a revoked task's call: %+v", rec)
	}
	// A revoked task cannot be delegated further.
	status, out = e.exchange("researcher", resTok, "summariser", url.Values{"scope": {"fs/read_file"}})
	if status != http.StatusBadRequest || out["toolgate_code"] != task.CodeRevoked || out["error"] != "invalid_grant" {
		t.Fatalf("delegating a revoked task: %d %v", status, out)
	}

	// The tree as the orchestrator sees it.
	status, out = e.do("GET", "/v1/tasks", e.op.Token(t, "orchestrator"), nil, "")
	if status != http.StatusOK || len(out["tasks"].([]any)) != 3 {
		t.Fatalf("list: %d %v", status, out)
	}
	status, out = e.do("GET", "/v1/tasks", e.op.Token(t, "mallory"), nil, "")
	if status != http.StatusOK || len(out["tasks"].([]any)) != 0 {
		t.Fatalf("mallory's list: %d %v", status, out)
	}
}

// TestAuthorizationRules: who may create, list and revoke.
func TestAuthorizationRules(t *testing.T) {
	e := newEnv(t)
	scope := map[string]any{"tools": []string{"fs/read_file"}}
	// An agent may not create a task for another agent, nor for another owner.
	b, _ := json.Marshal(map[string]any{"agent": "researcher", "purpose": "p", "scope": scope})
	status, out := e.do("POST", "/v1/tasks", e.op.Token(t, "orchestrator"), strings.NewReader(string(b)), "application/json")
	if status != http.StatusForbidden {
		t.Fatalf("task for another agent: %d %v", status, out)
	}
	b, _ = json.Marshal(map[string]any{"purpose": "p", "owner": "bob", "scope": scope})
	status, _ = e.do("POST", "/v1/tasks", e.op.Token(t, "orchestrator"), strings.NewReader(string(b)), "application/json")
	if status != http.StatusForbidden {
		t.Fatalf("task for another owner: %d", status)
	}
	// No credential, a bad credential.
	status, _ = e.do("POST", "/v1/tasks", "", strings.NewReader(string(b)), "application/json")
	if status != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %d", status)
	}
	status, out = e.do("GET", "/v1/tasks", "tgk_nothing", nil, "")
	if status != http.StatusUnauthorized || out["error"].(map[string]any)["code"] != identity.CodeAPIKey {
		t.Fatalf("bad key: %d %v", status, out)
	}
	// Invalid requests say what is wrong.
	for _, body := range []string{
		`{"purpose": "", "scope": {"tools": ["fs/read_file"]}}`,
		`{"purpose": "p", "scope": {}}`,
		`{"purpose": "p", "scope": {"tools": ["fs/read_file"]}, "ttl": "48h"}`,
		`{"purpose": "p", "scope": {"tools": ["fs/read_file"]}, "extra": 1}`,
		`{"purpose": "p", "scope": {"cedar": "permit(principal, action, resource) when { nope };"}}`,
	} {
		status, out = e.do("POST", "/v1/tasks", e.op.Token(t, "orchestrator"), strings.NewReader(body), "application/json")
		if status != http.StatusBadRequest {
			t.Fatalf("%s: %d %v", body, status, out)
		}
	}
	// The local operator may do anything, including revoking an agent.
	local := task.Caller{Local: true}
	iss, err := e.svc.Create(context.Background(), local, task.CreateRequest{Agent: "researcher", Owner: "bob", Purpose: "p", Scope: task.Scope{Tools: []task.ToolRule{{Tool: "fs/read_file"}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.allow("researcher", iss.Token, "fs/read_file", "")
	// Only admins revoke an agent's tasks.
	if _, err := e.svc.RevokeAgent(context.Background(), task.Caller{Principal: call.Principal{Kind: call.KindAgent, ID: "orchestrator"}}, "researcher", "x"); code(err) != task.CodeForbidden {
		t.Fatalf("agent revoking an agent: %v", err)
	}
	ids, err := e.svc.RevokeAgent(context.Background(), local, "researcher", "compromised")
	if err != nil || len(ids) != 1 {
		t.Fatalf("revoke agent: %v %v", ids, err)
	}
	e.deny("researcher", iss.Token, "fs/read_file", "", task.CodeRevoked)
}

func code(err error) string {
	var c enforce.Coded
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return ""
}

// The task service implements the pipeline's task and budget stages.
var (
	_ enforce.TaskResolver = (*task.Service)(nil)
	_ enforce.Budget       = (*task.Service)(nil)
)
