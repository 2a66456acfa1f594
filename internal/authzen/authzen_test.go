package authzen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/call"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestCallMapping(t *testing.T) {
	req, err := ParseEvaluation([]byte(`{
		"subject": {"type": "agent", "id": "bot", "properties": {"groups": ["g1"], "owner": "alice", "tenant": "acme", "level": 3, "ratio": 0.5}},
		"action": {"name": "fs/read_file", "properties": {"annotations": {"readOnlyHint": true}, "input_schema": {"type": "object"}}},
		"resource": {"type": "server", "id": "fs"},
		"context": {"input": {"path": "/a"}, "task": {"id": "t1", "purpose": "triage"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := req.Call(now)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Principal
	if p.Kind != call.KindAgent || p.ID != "bot" || p.Owner != "alice" || len(p.Groups) != 1 || p.Groups[0] != "g1" {
		t.Fatalf("principal %+v", p)
	}
	if p.Claims["tenant"] != "acme" || p.Claims["level"].(interface{ String() string }).String() != "3" {
		t.Fatalf("claims %+v", p.Claims)
	}
	if c.Server.Name != "fs" || c.Tool.Name != "read_file" || !c.Tool.Annotations.IsReadOnly() || string(c.Tool.InputSchema) != `{"type": "object"}` {
		t.Fatalf("tool %+v server %+v", c.Tool, c.Server)
	}
	if string(c.Input) != `{"path": "/a"}` || c.Task == nil || c.Task.ID != "t1" || c.Task.Purpose != "triage" {
		t.Fatalf("context: input %s task %+v", c.Input, c.Task)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{`, "invalid request"},
		{`{"subject":{"type":"agent","id":"a"},"action":{"name":"a/b"},"resource":{"type":"server","id":"a"},"extra":1}`, "extra"},
		{`{"subject":{"type":"agent","id":"a","id":"b"},"action":{"name":"a/b"},"resource":{"type":"server","id":"a"}}`, "duplicate"},
		{`{"subject":{"type":"agent","id":"a"},"resource":{"type":"server"}}`, "action: is required"},
		{"{\"subject\":{\"type\":\"agent\",\"id\":\"\xff\"},\"action\":{\"name\":\"a/b\"},\"resource\":{}}", "UTF-8"},
		{`{"subject":{"type":"agent","id":"a"},"action":{"name":"a/b"},"resource":{},"context":{"task_token":1}}`, "task_token"},
	}
	for _, tt := range tests {
		_, err := ParseEvaluation([]byte(tt.in))
		var ae *Error
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.in, err, tt.want)
		}
	}
	if _, err := ParseEvaluation(make([]byte, MaxRequestBytes+1)); err == nil || err.(*Error).Code != CodeTooLarge {
		t.Errorf("oversized: %v", err)
	}
}

func TestCallErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"action":{"name":"a/b"},"resource":{"type":"server"}}`, "subject: is required"},
		{`{"subject":{"type":"bot","id":"a"},"action":{"name":"a/b"},"resource":{}}`, "subject.type"},
		{`{"subject":{"type":"agent","id":"a","properties":{"groups":"g"}},"action":{"name":"a/b"},"resource":{}}`, "subject.properties.groups"},
		{`{"subject":{"type":"agent","id":"a","properties":{"owner":1}},"action":{"name":"a/b"},"resource":{}}`, "subject.properties.owner"},
		{`{"subject":{"type":"agent","id":"a"},"action":{"name":"a/"},"resource":{}}`, "action.name"},
		{`{"subject":{"type":"agent","id":"a"},"action":{"name":"/b"},"resource":{}}`, "action.name"},
		{`{"subject":{"type":"agent","id":"a"},"action":{"name":""},"resource":{}}`, "action.name"},
		{`{"subject":{"type":"agent","id":"a"},"action":{"name":"a/b"},"resource":{"type":"file"}}`, "resource.type"},
		{`{"subject":{"type":"agent","id":"a"},"action":{"name":"a/b","properties":{"annotations":{"readOnly":true}}},"resource":{}}`, "annotations"},
		{`{"subject":{"type":"agent","id":"a"},"action":{"name":"a/b"},"resource":{},"context":{"task_token":"x","task":{"id":"t"}}}`, "either task_token or task"},
		{`{"subject":{"type":"agent","id":"a"},"action":{"name":"a/b"},"resource":{},"context":{"task":{"purpose":"p"}}}`, "context.task.id"},
	}
	for _, tt := range tests {
		req, err := ParseEvaluation([]byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		_, err = req.Call(now)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestResponse(t *testing.T) {
	d := call.Decision{ID: "d1", Effect: call.Ask, Policies: []string{"p"}, Reasons: []call.Reason{{Kind: call.ReasonApproval, Message: "new payee"}}}
	r := Response(d)
	if r.Decision || r.Context.Effect != call.Ask || r.Context.ReasonUser["en"] != "new payee" || r.Context.DecisionID != "d1" {
		t.Fatalf("%+v", r.Context)
	}
	if r := Response(call.Decision{Effect: call.Allow}); !r.Decision || r.Context.Policies == nil {
		t.Fatalf("allow: %+v", r)
	}
}

func TestBatchSemantics(t *testing.T) {
	body := func(sem string) []byte {
		return []byte(`{"subject":{"type":"agent","id":"a"},"resource":{"type":"server","id":"s"},
			"options":{"evaluations_semantic":"` + sem + `"},
			"evaluations":[{"action":{"name":"s/allow"}},{"action":{"name":"s/deny"}},{"action":{"name":"s/allow"}},{"subject":{"type":"robot","id":"x"},"action":{"name":"s/allow"}}]}`)
	}
	decide := func(_ context.Context, c *call.Call) call.Decision {
		if c.Tool.Name == "allow" {
			return call.Decision{Effect: call.Allow}
		}
		return call.Decision{Effect: call.Deny}
	}
	for sem, want := range map[string][]bool{
		ExecuteAll:          {true, false, true, false},
		DenyOnFirstDeny:     {true, false},
		PermitOnFirstPermit: {true},
	} {
		req, err := ParseEvaluations(body(sem))
		if err != nil {
			t.Fatal(err)
		}
		resp := req.Evaluate(context.Background(), now, nil, decide)
		var got []bool
		for _, e := range resp.Evaluations {
			got = append(got, e.Decision)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", sem, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", sem, got, want)
			}
		}
	}
	if _, err := ParseEvaluations([]byte(`{"options":{"evaluations_semantic":"sometimes"}}`)); err == nil {
		t.Fatal("unknown semantic accepted")
	}
}

// TestCallAs: who is asking. The authenticated caller is on every call; a
// request without a subject, or whose subject names the caller, is the
// caller as its credential proves it (stated groups are not believed);
// another subject is as stated (the pipeline checks Action::"Evaluate").
func TestCallAs(t *testing.T) {
	now := time.Now()
	bot := &call.Principal{Kind: call.KindAgent, ID: "bot", Groups: []string{"agents"}, Owner: "alice", Claims: map[string]any{"team": "x"}}
	parse := func(s string) *EvaluationRequest {
		t.Helper()
		r, err := ParseEvaluation([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const rest = `"action":{"name":"fs/read"},"resource":{"type":"server","id":"fs"}`

	c, err := parse(`{`+rest+`}`).CallAs(now, bot)
	if err != nil || c.Principal.ID != "bot" || c.Principal.Owner != "alice" || c.Caller == nil || c.Caller.ID != "bot" {
		t.Fatalf("no subject: %+v %v", c, err)
	}
	c, err = parse(`{"subject":{"type":"agent","id":"bot","properties":{"groups":["admins"],"owner":"root"}},`+rest+`}`).CallAs(now, bot)
	if err != nil || len(c.Principal.Groups) != 1 || c.Principal.Groups[0] != "agents" || c.Principal.Owner != "alice" {
		t.Fatalf("self with stated groups: %+v %v", c.Principal, err)
	}
	c, err = parse(`{"subject":{"type":"user","id":"bot"},`+rest+`}`).CallAs(now, bot)
	if err != nil || c.Principal.Kind != call.KindUser || c.Caller.Kind != call.KindAgent {
		t.Fatalf("User::\"bot\" is not Agent::\"bot\": %+v %v", c, err)
	}
	c, err = parse(`{"subject":{"type":"user","id":"carol","properties":{"groups":["finance"]}},`+rest+`}`).CallAs(now, bot)
	if err != nil || c.Principal.ID != "carol" || c.Principal.Groups[0] != "finance" || c.Caller.ID != "bot" {
		t.Fatalf("another subject: %+v %v", c, err)
	}
	// The call's principal is a copy: the pipeline may change it.
	c.Caller.Groups[0] = "changed"
	if bot.Groups[0] != "agents" {
		t.Fatal("the caller was shared with the call")
	}
	if c, err := parse(`{"subject":{"type":"agent","id":"x"},`+rest+`}`).CallAs(now, nil); err != nil || c.Caller != nil {
		t.Fatalf("unauthenticated: %+v %v", c, err)
	}
}
