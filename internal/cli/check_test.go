package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

// Request builders keep the table readable.
type m = map[string]any

func agent(id string, groups ...string) m {
	return m{"type": "agent", "id": id, "properties": m{"groups": groups}}
}

func user(id string, groups ...string) m {
	return m{"type": "user", "id": id, "properties": m{"groups": groups}}
}

func req(subject m, action string, input any) m {
	r := m{"subject": subject, "action": m{"name": action}, "resource": m{"type": "server", "id": strings.Split(action, "/")[0]}}
	if input != nil {
		r["context"] = m{"input": input}
	}
	return r
}

func with(r m, path string, v any) m {
	keys := strings.Split(path, ".")
	cur := r
	for _, k := range keys[:len(keys)-1] {
		next, ok := cur[k].(m)
		if !ok {
			next = m{}
			cur[k] = next
		}
		cur = next
	}
	cur[keys[len(keys)-1]] = v
	return r
}

var amountSchema = m{"type": "object", "properties": m{"amount": m{"type": "number"}, "count": m{"type": "integer"}}}

func pay(amount any, recipient string, schema bool) m {
	r := req(agent("payer", "finance"), "bank/send_money", m{"amount": amount, "recipient": recipient})
	if schema {
		with(r, "action.properties.input_schema", amountSchema)
	}
	return r
}

type checkCase struct {
	name string
	// req is a request (marshalled to JSON) or a raw string.
	req      any
	effect   string
	policies []string // nil: not checked
	layer    string
	reason   string // substring of reason_user
	code     string // code of the first reason
	wantErr  string // non-empty: check fails with this in stderr
}

// TestCheckTable drives `toolgate check` end to end (flags, config, policy
// directories, AuthZEN in and out) over every element of the policy model.
func TestCheckTable(t *testing.T) {
	deep := m{}
	cur := deep
	for i := 0; i < 40; i++ {
		next := m{}
		cur["x"] = next
		cur = next
	}
	huge := `{"subject":{"type":"agent","id":"a"},"action":{"name":"fs/read_file"},"resource":{"type":"server","id":"fs"},"context":{"input":{"pad":"` +
		strings.Repeat("a", 5<<20) + `"}}}`

	cases := []checkCase{
		// Groups and annotation action groups.
		{name: "group permits read-only tool", req: req(agent("ci", "devops"), "fs/read_file", m{"path": "/a"}),
			effect: "allow", policies: []string{"devops-read", "team-all"}},
		{name: "no group, no permit", req: req(agent("ci"), "fs/read_file", m{"path": "/a"}),
			effect: "deny", policies: []string{}, layer: "org", code: "", reason: `no policy in layer "org" permits Agent::"ci" to call fs/read_file`},
		{name: "unannotated tool is destructive by MCP default", req: req(agent("ci", "devops"), "fs/write_file", m{"path": "/a"}),
			effect: "deny", policies: []string{"no-agent-deletes"}, reason: "agents may not delete files"},
		{name: "admins may delete", req: req(agent("root", "admins"), "fs/delete_file", m{"path": "/a"}),
			effect: "allow", policies: []string{"admins-fs", "team-all"}},
		{name: "several permits are all reported", req: req(agent("root", "admins", "devops"), "fs/read_file", nil),
			effect: "allow", policies: []string{"admins-fs", "devops-read", "team-all"}},
		{name: "forbid scoped to agents spares users", req: req(user("ann", "admins"), "fs/delete_file", nil),
			effect: "allow", policies: []string{"admins-fs", "team-all"}},
		{name: "user without group has no permit", req: req(user("ann"), "fs/delete_file", nil),
			effect: "deny", policies: []string{}, reason: `User::"ann"`},
		{name: "annotations stated in the request", req: with(req(agent("ci", "devops"), "fs/stat", nil), "action.properties.annotations", m{"readOnlyHint": true}),
			effect: "allow", policies: []string{"devops-read", "team-all"}},
		{name: "config annotations override the request's", req: with(req(agent("ci", "devops"), "fs/read_file", nil), "action.properties.annotations", m{"readOnlyHint": false}),
			effect: "allow", policies: []string{"devops-read", "team-all"}},
		{name: "open-world default applies", req: req(agent("bob", "interns"), "web/fetch", m{"url": "https://example.com"}),
			effect: "deny", policies: []string{"no-openworld-for-interns"}, reason: "interns may not reach the outside world"},
		{name: "open_world false escapes the open-world forbid", req: req(agent("bob", "interns", "devops"), "fs/list_dir", nil),
			effect: "allow", policies: []string{"devops-read", "team-all"}},
		{name: "server action group under CallTool", req: req(agent("x"), "status/ping", nil),
			effect: "allow", policies: []string{"status-any", "team-all"}},

		// Resource attributes and label groups.
		{name: "resource labels and input pattern", req: req(agent("x"), "web/fetch", m{"url": "https://example.com/a"}),
			effect: "allow", policies: []string{"web-fetch", "team-all"}},
		{name: "pattern does not match", req: req(agent("x"), "web/fetch", m{"url": "http://example.com/a"}),
			effect: "deny", policies: []string{}},
		{name: "untrusted server, writing tool", req: req(agent("x"), "web/post", m{"url": "https://example.com"}),
			effect: "deny", policies: []string{"untrusted-read-only"}, reason: "untrusted servers may only be read"},
		{name: "server not in config is untrusted", req: req(agent("x"), "other/tool", nil),
			effect: "deny", policies: []string{"untrusted-read-only"}},
		{name: "label group from config", req: req(agent("x"), "db/query", m{"sql": "SELECT * FROM t"}),
			effect: "allow", policies: []string{"sql-select", "team-all"}},
		{name: "label group, condition false", req: req(agent("x"), "db/query", m{"sql": "DROP TABLE t"}),
			effect: "deny", policies: []string{}},
		{name: "has guards a missing argument", req: req(agent("x"), "db/query", m{}),
			effect: "deny", policies: []string{}},
		{name: "tool without the label", req: req(agent("x"), "db/drop", m{"sql": "SELECT * FROM t"}),
			effect: "deny", policies: []string{}},

		// Numbers, decimals, ask, fail closed.
		{name: "schema number converts to decimal", req: pay(500, "acct-1", true),
			effect: "allow", policies: []string{"bank-pay", "team-all"}},
		{name: "non-integral number is decimal without schema", req: pay(500.5, "acct-2", false),
			effect: "allow", policies: []string{"bank-pay", "team-all"}},
		{name: "integer without schema is Long: erroring forbid denies", req: pay(500, "acct-1", false),
			effect: "deny", policies: []string{"bank-cap"}, code: "policy.eval_error"},
		{name: "forbid with reason", req: pay(50000, "acct-1", true),
			effect: "deny", policies: []string{"bank-cap"}, reason: "payments above 10000 are never made by agents"},
		{name: "approval forbid asks", req: pay(100, "acct-9", true),
			effect: "ask", policies: []string{"bank-new-payee"}, reason: "payment to a payee not on the approved list"},
		{name: "ask needs a permit too", req: with(pay(100, "acct-9", true), "subject", agent("payer")),
			effect: "deny", policies: []string{}},
		{name: "plain forbid beats approval forbid", req: pay(50000, "acct-9", true),
			effect: "deny", policies: []string{"bank-cap"}},
		{name: "schema integer rejects a fraction", req: with(pay(100, "acct-1", true), "context.input.count", 1.5),
			effect: "deny", code: "input.schema_mismatch"},
		{name: "more than four fractional digits", req: pay(json.Number("100.00001"), "acct-1", true),
			effect: "deny", code: "input.decimal_precision"},
		{name: "number out of range", req: pay(json.Number("1e30"), "acct-1", false),
			effect: "deny", code: "input.number_range"},
		{name: "trailing zeros are exact", req: pay(json.Number("100.000000"), "acct-1", true),
			effect: "allow"},

		// Tags, nested records, sets, null.
		{name: "claim as tag", req: with(req(agent("x"), "crm/lookup", nil), "subject.properties.tenant", "acme"),
			effect: "allow", policies: []string{"crm-tenant", "team-all"}},
		{name: "claim with other value", req: with(req(agent("x"), "crm/lookup", nil), "subject.properties.tenant", "evil"),
			effect: "deny", policies: []string{}},
		{name: "no claim", req: req(agent("x"), "crm/lookup", nil),
			effect: "deny", policies: []string{}},
		{name: "nested record and set", req: req(agent("x"), "crm/update", m{"customer": m{"address": m{"country": "DE"}, "vip": false}, "tags": []string{"gdpr", "b2b"}}),
			effect: "allow", policies: []string{"crm-update-gdpr", "team-all"}},
		{name: "nested record, other value", req: req(agent("x"), "crm/update", m{"customer": m{"address": m{"country": "FR"}, "vip": false}, "tags": []string{"gdpr"}}),
			effect: "deny", policies: []string{}},
		{name: "arrays are sets", req: req(agent("x"), "crm/update", m{"customer": m{"address": m{"country": "DE"}, "vip": false}, "tags": []string{"gdpr", "gdpr"}}),
			effect: "allow"},
		{name: "null is dropped: permit errors, does not permit", req: req(agent("x"), "crm/update", m{"customer": m{"address": m{"country": "DE"}, "vip": nil}, "tags": []string{"gdpr"}}),
			effect: "deny", policies: []string{}},

		// Owner, users, tasks, time.
		{name: "owner attribute", req: with(req(agent("helper"), "tickets/create", nil), "subject.properties.owner", "alice"),
			effect: "allow", policies: []string{"tickets-for-alice", "team-all"}},
		{name: "other owner", req: with(req(agent("helper"), "tickets/create", nil), "subject.properties.owner", "bob"),
			effect: "deny", policies: []string{}},
		{name: "user is not an agent", req: req(user("alice"), "tickets/create", nil),
			effect: "deny", policies: []string{}},
		{name: "users read the wiki", req: req(user("ann"), "wiki/read_page", nil),
			effect: "allow", policies: []string{"humans-wiki", "team-all"}},
		{name: "layered denial: second layer forbids", req: req(user("ann"), "wiki/delete_page", nil),
			effect: "deny", layer: "team", policies: []string{"team-no-wiki-delete"}, reason: "the team keeps its wiki"},
		{name: "task purpose and system time", req: with(req(agent("x"), "metrics/read", nil), "context.task", m{"id": "t1", "purpose": "incident 42 follow-up"}),
			effect: "allow", policies: []string{"incident-metrics", "team-all"}},
		{name: "task purpose does not match", req: with(req(agent("x"), "metrics/read", nil), "context.task", m{"id": "t1", "purpose": "vacation"}),
			effect: "deny", policies: []string{}},
		{name: "a malformed task token denies", req: with(req(agent("x"), "metrics/read", nil), "context.task_token", "eyJ..."),
			effect: "deny", code: "task.malformed"},

		// Facts from the SQL classifier bound to pg/query's "sql" argument.
		{name: "facts: a select", req: req(agent("x"), "pg/query", m{"sql": "SELECT name FROM users WHERE id = 1"}),
			effect: "allow", policies: []string{"pg-query", "team-all"}},
		{name: "facts: destructive SQL", req: req(agent("x"), "pg/query", m{"sql": "DELETE FROM users"}),
			effect: "deny", policies: []string{"pg-no-destructive"}, reason: "destructive SQL needs a DBA"},
		{name: "facts: stacked statement hidden behind a select", req: req(agent("x"), "pg/query", m{"sql": "SELECT 1; /* hi */ DrOp TABLE users"}),
			effect: "deny", policies: []string{"pg-no-destructive"}},
		{name: "facts: unparsable SQL counts as destructive", req: req(agent("x"), "pg/query", m{"sql": "SELEC * FORM users"}),
			effect: "deny", policies: []string{"pg-no-destructive"}},
		{name: "facts: a DBA may", req: req(agent("x", "dba"), "pg/query", m{"sql": "DROP TABLE users"}),
			effect: "allow"},

		// Input limits and bad input decided as deny.
		{name: "input must be an object", req: req(agent("x"), "status/ping", []int{1}),
			effect: "deny", code: "input.not_object"},
		{name: "input too deep", req: req(agent("x"), "status/ping", deep),
			effect: "deny", code: "input.too_deep"},
		{name: "duplicate key in input", req: `{"subject":{"type":"agent","id":"x"},"action":{"name":"status/ping"},"resource":{"type":"server","id":"status"},"context":{"input":{"a":1,"a":2}}}`,
			wantErr: "duplicate"},
		{name: "reserved server name", req: req(agent("x"), "ReadOnly/x", nil),
			effect: "deny", code: "call.server_name"},

		// Errors: exit 1, nothing decided.
		{name: "invalid JSON", req: `{"subject":`, wantErr: "invalid request"},
		{name: "subject type", req: req(m{"type": "robot", "id": "r"}, "fs/read_file", nil), wantErr: "subject.type"},
		{name: "subject id", req: req(m{"type": "agent", "id": ""}, "fs/read_file", nil), wantErr: "subject.id: is required"},
		{name: "action without server", req: m{"subject": agent("x"), "action": m{"name": "read_file"}, "resource": m{"type": "server"}}, wantErr: "action.name"},
		{name: "tool given, server as resource", req: m{"subject": agent("x", "devops"), "action": m{"name": "read_file"}, "resource": m{"type": "server", "id": "fs"}},
			effect: "allow", policies: []string{"devops-read", "team-all"}},
		{name: "resource disagrees with action", req: m{"subject": agent("x"), "action": m{"name": "fs/read_file"}, "resource": m{"type": "server", "id": "db"}}, wantErr: "resource.id"},
		{name: "other context members are accepted and unused (AuthZEN's context is open)", req: m{"subject": agent("x", "devops"), "action": m{"name": "fs/read_file"}, "resource": m{"type": "server", "id": "fs"}, "context": m{"time": "2026-11-27T10:00:00Z"}},
			effect: "allow", policies: []string{"devops-read", "team-all"}},
		{name: "a resource that is not a tool server is not permitted", req: m{"subject": agent("x", "devops"), "action": m{"name": "fs/read_file"}, "resource": m{"type": "file", "id": "a.txt"}},
			effect: "deny", code: "request.unsupported"},
		{name: "missing resource", req: m{"subject": agent("x"), "action": m{"name": "fs/read_file"}}, wantErr: "resource: is required"},
		{name: "oversized request", req: huge, wantErr: "larger than the limit"},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if s, ok := tc.req.(string); ok {
				body = []byte(s)
			} else {
				var err error
				if body, err = json.Marshal(tc.req); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			code := Main([]string{"--config", "testdata/check/config.yaml", "check", "-"}, bytes.NewReader(body), &stdout, &stderr)
			if tc.wantErr != "" {
				if code == 0 || !strings.Contains(stderr.String(), tc.wantErr) {
					t.Fatalf("want error containing %q, got exit %d, stderr %q, stdout %s", tc.wantErr, code, stderr.String(), stdout.String())
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var resp struct {
				Decision bool `json:"decision"`
				Context  struct {
					Effect     string            `json:"effect"`
					DecisionID string            `json:"decision_id"`
					Policies   []string          `json:"policies"`
					Layer      string            `json:"layer"`
					ReasonUser map[string]string `json:"reason_user"`
					Reasons    []struct {
						Code string `json:"code"`
					} `json:"reasons"`
				} `json:"context"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
			}
			got := resp.Context
			if got.Effect != tc.effect {
				t.Fatalf("effect %s, want %s\n%s", got.Effect, tc.effect, stdout.String())
			}
			if resp.Decision != (tc.effect == "allow") {
				t.Errorf("decision %v with effect %s", resp.Decision, got.Effect)
			}
			if got.DecisionID == "" && !strings.HasPrefix(tc.code, "request.") {
				t.Error("no decision id")
			}
			if tc.policies != nil {
				slices.Sort(got.Policies)
				want := slices.Sorted(slices.Values(tc.policies))
				if !slices.Equal(got.Policies, want) {
					t.Errorf("policies %v, want %v\n%s", got.Policies, want, stdout.String())
				}
			}
			if tc.layer != "" && got.Layer != tc.layer {
				t.Errorf("layer %q, want %q", got.Layer, tc.layer)
			}
			if tc.reason != "" && !strings.Contains(got.ReasonUser["en"], tc.reason) {
				t.Errorf("reason %q does not contain %q", got.ReasonUser["en"], tc.reason)
			}
			if tc.code != "" && (len(got.Reasons) == 0 || got.Reasons[0].Code != tc.code) {
				t.Errorf("reasons %+v, want first code %q\n%s", got.Reasons, tc.code, stdout.String())
			}
		})
	}
}

func TestCheckReadsFileAndPolicyFlag(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.cedar")
	writeFile(t, pol, `@id("all") permit(principal, action, resource);`)
	reqFile := filepath.Join(dir, "req.json")
	writeFile(t, reqFile, `{"subject":{"type":"agent","id":"a"},"action":{"name":"x/y"},"resource":{"type":"server","id":"x"}}`)
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"check", "--policy", pol, reqFile}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"effect": "allow"`) {
		t.Fatalf("not allowed: %s", stdout.String())
	}
}

func TestCheckInvalidPolicyLocation(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok.cedar"), `permit(principal, action, resource);`)
	writeFile(t, filepath.Join(dir, "bad.cedar"), "permit(principal, action, resource);\n\nforbid(principal, action, resource)\n  when { context.x == };\n")
	var stdout, stderr bytes.Buffer
	code := Main([]string{"check", "--policy", dir, "-"}, strings.NewReader(`{}`), &stdout, &stderr)
	// At the token that is wrong: the "}" where an expression belongs.
	want := filepath.Join(dir, "bad.cedar") + ":4:23: expected an expression after `==`, found `}`"
	if code == 0 || !strings.Contains(stderr.String(), want) {
		t.Fatalf("exit %d, stderr %q; want %q", code, stderr.String(), want)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"nosuch"}, {"check", "--nosuch"}, {"check", "a", "b"}, {"version", "x"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(args, nil, &stdout, &stderr); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitUsage, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"version"}, nil, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "toolgate ") {
		t.Errorf("version: exit %d, %q", code, stdout.String())
	}
	for _, cmd := range [][]string{{"--help"}, {"check", "--help"}, {"policy", "validate", "--help"}, {"policy", "test", "--help"}, {"serve", "--help"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(cmd, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Usage:") {
			t.Errorf("%v: exit %d, %q", cmd, code, stdout.String())
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// onTerminal runs the toolgate binary with its stdout on a terminal (a
// pseudo-terminal made by script(1)) and returns what it wrote there.
func onTerminal(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		testutil.Missing(t, "script (util-linux)")
	}
	quoted := []string{testutil.Toolgate(t)}
	for _, a := range args {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	if dir == "" {
		dir = t.TempDir()
	}
	cmd := exec.Command(script, "-qec", strings.Join(quoted, " "), "/dev/null")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(t), append(env, "TERM=xterm")...)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), strings.ReplaceAll(string(out), "\r\n", "\n")
}

// check --fail-on-deny exits 3 on deny and 4 on ask (0 on allow), whatever
// the output format; without it, 0 whatever the decision.
func TestCheckFailOnDeny(t *testing.T) {
	dir := t.TempDir()
	req := func(tool string, ro bool) string {
		path := filepath.Join(dir, tool+".json")
		writeFile(t, path, fmt.Sprintf(`{"subject":{"type":"agent","id":"a"},"action":{"name":"fs/%s","properties":{"annotations":{"readOnlyHint":%v}}},"resource":{"type":"server","id":"fs"}}`, tool, ro))
		return path
	}
	writeFile(t, filepath.Join(dir, "p", "p.cedar"), `permit(principal, action == Action::"fs/read", resource);
@id("no-rm") forbid(principal, action == Action::"fs/rm", resource);
@id("ask-write") @approval("writes need a person") forbid(principal, action == Action::"fs/write", resource);
permit(principal, action in [Action::"fs/rm", Action::"fs/write"], resource);`)
	for _, tt := range []struct {
		tool   string
		code   int
		effect string
	}{{"read", 0, "allow"}, {"rm", ExitDeny, "deny"}, {"write", ExitAsk, "ask"}} {
		path := req(tt.tool, tt.tool == "read")
		code, out, errs := toolgateBin(t, dir, nil, "check", "--fail-on-deny", "--policy", "p", path)
		if code != tt.code || !strings.Contains(out, `"effect": "`+tt.effect+`"`) {
			t.Errorf("%s: exit %d, want %d\n%s%s", tt.tool, code, tt.code, out, errs)
		}
		if code, _, _ := toolgateBin(t, dir, nil, "check", "--fail-on-deny", "--format", "text", "--policy", "p", path); code != tt.code {
			t.Errorf("%s --format text: exit %d, want %d", tt.tool, code, tt.code)
		}
		if code, _, _ := toolgateBin(t, dir, nil, "check", "--policy", "p", path); code != 0 {
			t.Errorf("%s without --fail-on-deny: exit %d", tt.tool, code)
		}
	}
	if code, _, _ := toolgateBin(t, dir, nil, "check", "--format", "yaml", "--policy", "p", req("read", true)); code != ExitUsage {
		t.Errorf("bad format: %d", code)
	}
}

// On a terminal, check prints a summary for people, in colour (unless
// NO_COLOR); piped, the AuthZEN response.
func TestCheckOnATerminal(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.cedar"), `@id("no-drop") @reason("destructive SQL needs a DBA")
forbid(principal, action == Action::"db/query", resource) when { context.input.sql like "DROP*" };
permit(principal, action, resource);`)
	writeFile(t, filepath.Join(dir, "r.json"), `{"subject":{"type":"agent","id":"ci-bot"},"action":{"name":"db/query"},"resource":{"type":"server","id":"db"},"context":{"input":{"sql":"DROP TABLE t"}}}`)
	code, out := onTerminal(t, dir, nil, "check", "--fail-on-deny", "--policy", "p.cedar", "r.json")
	if code != ExitDeny || !strings.Contains(out, "\x1b[31m\x1b[1mDENY\x1b[0m\x1b[0m  Agent::\"ci-bot\" calls db/query on Server::\"db\"\n") ||
		!strings.Contains(out, "  policies  no-drop (layer org)\n") || !strings.Contains(out, "  reason    destructive SQL needs a DBA\n") {
		t.Errorf("exit %d\n%q", code, out)
	}
	if _, out := onTerminal(t, dir, []string{"NO_COLOR=1"}, "check", "--policy", "p.cedar", "r.json"); strings.Contains(out, "\x1b[") || !strings.HasPrefix(out, "DENY  Agent::") {
		t.Errorf("NO_COLOR: %q", out)
	}
	if _, out, _ := toolgateBin(t, dir, nil, "check", "--policy", "p.cedar", "r.json"); !strings.HasPrefix(out, "{\n") {
		t.Errorf("piped: %q", out)
	}
}
