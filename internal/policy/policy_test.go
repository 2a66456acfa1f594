package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
)

func mustSet(t testing.TB, name string, srcs ...string) *Set {
	t.Helper()
	var sources []Source
	for i, s := range srcs {
		sources = append(sources, Source{Name: fmt.Sprintf("%s%d.cedar", name, i), Text: []byte(s)})
	}
	set, err := NewSet(name, sources)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func mustRequest(t testing.TB, c *call.Call) *Request {
	t.Helper()
	if c.Time.IsZero() {
		c.Time = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	}
	r, err := NewRequest(c, nil, cedarjson.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func agentCall(id string, groups []string, server, tool string, input string) *call.Call {
	return &call.Call{
		Principal: call.Principal{Kind: call.KindAgent, ID: id, Groups: groups},
		Server:    call.Server{Name: server},
		Tool:      call.Tool{Name: tool},
		Input:     json.RawMessage(input),
	}
}

// TestIndexIsSound generates random policies and requests and checks that
// evaluating only the indexed candidates finds exactly the policies (applying
// or erroring) that evaluating every policy finds, as cedar-go's Authorize
// does. The index is an optimisation; it must never change a decision.
func TestIndexIsSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	principals := []string{`principal`, `principal == Agent::"a1"`, `principal == User::"u1"`, `principal in Group::"g1"`,
		`principal in Group::"g2"`, `principal is Agent`, `principal is User`, `principal is Agent in Group::"g1"`, `principal in Agent::"a2"`}
	actions := []string{`action`, `action == Action::"s1/t1"`, `action == Action::"s2/t2"`, `action in Action::"s1"`, `action in Action::"CallTool"`,
		`action in Action::"ReadOnly"`, `action in Action::"Destructive"`, `action in Action::"OpenWorld"`, `action in Action::"lbl"`,
		`action in [Action::"s2", Action::"ReadOnly"]`, `action == Action::"s1"`, `action in [Action::"s1/t1", Action::"s3/t3"]`}
	resources := []string{`resource`, `resource == Server::"s1"`, `resource == Server::"s2"`, `resource is Server`, `resource in Server::"s1"`}
	conds := []string{``, `when { true }`, `when { false }`, `when { context.input.n > 3 }`, `when { context.input.missing }`, `unless { principal has owner }`}

	var sb strings.Builder
	for i := 0; i < 300; i++ {
		effect := "permit"
		if rng.IntN(3) == 0 {
			effect = "forbid"
		}
		fmt.Fprintf(&sb, "@id(\"p%d\")\n%s(%s, %s, %s) %s;\n", i, effect,
			principals[rng.IntN(len(principals))], actions[rng.IntN(len(actions))], resources[rng.IntN(len(resources))], conds[rng.IntN(len(conds))])
	}
	set := mustSet(t, "org", sb.String())

	calls := []*call.Call{}
	for _, p := range []call.Principal{
		{Kind: call.KindAgent, ID: "a1", Groups: []string{"g1"}},
		{Kind: call.KindAgent, ID: "a2", Groups: []string{"g2"}, Owner: "u1"},
		{Kind: call.KindUser, ID: "u1", Groups: []string{"g1", "g2"}},
		{Kind: call.KindUser, ID: "u2"},
	} {
		for _, st := range [][2]string{{"s1", "t1"}, {"s2", "t2"}, {"s3", "t3"}, {"s1", "other"}} {
			for _, ro := range []bool{true, false} {
				c := &call.Call{Principal: p, Server: call.Server{Name: st[0]}, Tool: call.Tool{Name: st[1]}, Input: json.RawMessage(`{"n": 5}`)}
				c.Tool.Annotations.ReadOnly = &ro
				if st[1] == "t2" {
					c.Tool.Labels = []string{"lbl"}
				}
				calls = append(calls, c)
			}
		}
	}
	all := cedar.PolicyMap{}
	for _, p := range set.policies {
		all[cedar.PolicyID(p.ID)] = p.cedar
	}
	pruned := 0
	for _, c := range calls {
		r := mustRequest(t, c)
		if len(set.candidates(r, nil)) < set.Len() {
			pruned++
		}
		// Reference: every policy.
		want := outcome(all, r)
		// Index: candidates only.
		cand := cedar.PolicyMap{}
		for _, i := range set.candidates(r, nil) {
			p := set.policies[i]
			cand[cedar.PolicyID(p.ID)] = p.cedar
		}
		got := outcome(cand, r)
		if !slices.Equal(got, want) {
			t.Fatalf("%s calling %s: index finds %v, full evaluation %v", r.principal, r.action, got, want)
		}
	}
	if pruned != len(calls) {
		t.Fatalf("the index pruned nothing for %d of %d requests", len(calls)-pruned, len(calls))
	}
}

// outcome lists the policies that apply or error, each once, sorted.
func outcome(ps cedar.PolicyMap, r *Request) []string {
	var out []string
	// Evaluate permits and forbids separately: Authorize reports only the
	// forbids when one applies.
	for _, forbid := range []bool{true, false} {
		sub := cedar.PolicyMap{}
		for id, p := range ps {
			if (p.Effect() == cedar.Forbid) == forbid {
				sub[id] = p
			}
		}
		_, diag := cedar.Authorize(sub, r.entities, r.cedar())
		for _, reason := range diag.Reasons {
			out = append(out, "applies:"+string(reason.PolicyID))
		}
		for _, e := range diag.Errors {
			out = append(out, "error:"+string(e.PolicyID))
		}
	}
	slices.Sort(out)
	return out
}

func TestDecideEffects(t *testing.T) {
	org := mustSet(t, "org", `
@id("read") permit(principal in Group::"devops", action in Action::"ReadOnly", resource);
@id("pay") permit(principal, action == Action::"bank/pay", resource);
@id("big") @reason("too much") forbid(principal, action == Action::"bank/pay", resource) when { context.input.amount > 1000 };
@id("new") @approval("new payee") forbid(principal, action == Action::"bank/pay", resource) when { context.input.to != "known" };
@id("err") forbid(principal, action == Action::"bank/refund", resource) when { context.input.nope == 1 };
@id("refund") permit(principal, action == Action::"bank/refund", resource);
@id("perr") permit(principal, action == Action::"bank/check", resource) when { context.input.nope == 1 };
`)
	ro := true
	tests := []struct {
		name     string
		call     *call.Call
		effect   call.Effect
		policies []string
		kind     call.ReasonKind
		diag     string
	}{
		{"permit", func() *call.Call {
			c := agentCall("a", []string{"devops"}, "fs", "read", `{}`)
			c.Tool.Annotations.ReadOnly = &ro
			return c
		}(), call.Allow, []string{"read"}, call.ReasonPermit, ""},
		{"no permit", agentCall("a", nil, "fs", "read", `{}`), call.Deny, []string{}, call.ReasonNoPermit, ""},
		{"forbid", agentCall("a", nil, "bank", "pay", `{"amount": 5000, "to": "known"}`), call.Deny, []string{"big"}, call.ReasonForbid, ""},
		{"ask", agentCall("a", nil, "bank", "pay", `{"amount": 5, "to": "x"}`), call.Ask, []string{"new"}, call.ReasonApproval, ""},
		{"forbid beats ask", agentCall("a", nil, "bank", "pay", `{"amount": 5000, "to": "x"}`), call.Deny, []string{"big"}, call.ReasonForbid, ""},
		{"allowed", agentCall("a", nil, "bank", "pay", `{"amount": 5, "to": "known"}`), call.Allow, []string{"pay"}, call.ReasonPermit, ""},
		{"erroring forbid denies", agentCall("a", nil, "bank", "refund", `{}`), call.Deny, []string{"err"}, call.ReasonError, "err"},
		{"erroring permit does not permit", agentCall("a", nil, "bank", "check", `{}`), call.Deny, []string{}, call.ReasonNoPermit, "perr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Decide(mustRequest(t, tt.call), org)
			if res.Effect != tt.effect || !slices.Equal(res.Policies, tt.policies) {
				t.Fatalf("got %s %v, want %s %v (%+v)", res.Effect, res.Policies, tt.effect, tt.policies, res)
			}
			if len(res.Reasons) == 0 || res.Reasons[0].Kind != tt.kind {
				t.Fatalf("reasons %+v, want kind %s", res.Reasons, tt.kind)
			}
			if tt.diag != "" && (len(res.Diagnostics) == 0 || res.Diagnostics[0].Policy != tt.diag || res.Diagnostics[0].Location == "") {
				t.Fatalf("diagnostics %+v, want one for %s", res.Diagnostics, tt.diag)
			}
			if res.PolicyVersion != org.Version {
				t.Errorf("version %q", res.PolicyVersion)
			}
		})
	}
}

func TestLayers(t *testing.T) {
	org := mustSet(t, "org", `@id("all") permit(principal, action, resource);`)
	task := mustSet(t, "task", `@id("read-only") permit(principal, action == Action::"fs/read", resource);`)
	hop := mustSet(t, "hop1", `@id("hop") permit(principal, action in Action::"fs", resource);
@id("ask") @approval("check it") forbid(principal, action == Action::"fs/read", resource) when { context.input.path like "/secret/*" };`)
	tests := []struct {
		call   *call.Call
		layers []*Set
		effect call.Effect
		layer  string
	}{
		{agentCall("a", nil, "fs", "read", `{"path": "/a"}`), []*Set{org, task, hop}, call.Allow, ""},
		{agentCall("a", nil, "fs", "write", `{}`), []*Set{org, task, hop}, call.Deny, "task"},
		{agentCall("a", nil, "db", "read", `{}`), []*Set{org, hop}, call.Deny, "hop1"},
		{agentCall("a", nil, "fs", "read", `{"path": "/secret/x"}`), []*Set{org, task, hop}, call.Ask, "hop1"},
		{agentCall("a", nil, "fs", "read", `{}`), nil, call.Deny, ""},
	}
	for i, tt := range tests {
		res := Decide(mustRequest(t, tt.call), tt.layers...)
		if res.Effect != tt.effect || res.Layer != tt.layer {
			t.Errorf("%d: got %s in %q, want %s in %q (%+v)", i, res.Effect, res.Layer, tt.effect, tt.layer, res)
		}
	}
	if v := LayersVersion([]*Set{org, task}); !strings.HasPrefix(v, org.Version+" task=sha256:") {
		t.Errorf("version %q", v)
	}
}

func TestReachable(t *testing.T) {
	org := mustSet(t, "org", `
@id("fs") permit(principal in Group::"devops", action in Action::"fs", resource);
@id("no-delete") forbid(principal, action == Action::"fs/delete", resource);
@id("cond") forbid(principal, action == Action::"fs/write", resource) when { context.input.path like "/etc/*" };
@id("ask") @approval("x") forbid(principal, action == Action::"fs/move", resource);
`)
	tests := []struct {
		call *call.Call
		want bool
	}{
		{agentCall("a", []string{"devops"}, "fs", "read", ``), true},
		{agentCall("a", nil, "fs", "read", ``), false},
		{agentCall("a", []string{"devops"}, "fs", "delete", ``), false},
		{agentCall("a", []string{"devops"}, "fs", "write", ``), true},
		{agentCall("a", []string{"devops"}, "fs", "move", ``), true},
		{agentCall("a", []string{"devops"}, "db", "read", ``), false},
	}
	for i, tt := range tests {
		got, why := Reachable(mustRequest(t, tt.call), org)
		if got != tt.want {
			t.Errorf("%d: reachable %v (%s), want %v", i, got, why, tt.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"parse error located", "permit(principal, action, resource);\nforbid(principal, action, resource) when { 1 + };", "f0.cedar:2:"},
		{"duplicate id", `@id("x") permit(principal, action, resource); @id("x") forbid(principal, action, resource);`, `policy id "x" is already used at f0.cedar:1:1 [policy.duplicate_id]`},
		{"approval on permit", `@approval("no") permit(principal, action, resource);`, "@approval only applies to forbid"},
		{"empty approval", `@approval("") forbid(principal, action, resource);`, "@approval needs a text"},
		{"empty id", `@id("") permit(principal, action, resource);`, "@id must not be empty"},
		{"bad decimal literal", `permit(principal, action, resource) when { decimal("1") == decimal("1.0") };`, `decimal("1") can never be evaluated`},
		{"bad ip literal", `permit(principal, action, resource) when { ip("300.1.1.1").isIpv4() };`, `ip("300.1.1.1")`},
		{"bad datetime literal", `permit(principal, action, resource) when { context.system.now > datetime("yesterday") };`, `datetime("yesterday")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSet("org", []Source{{Name: "f0.cedar", Text: []byte(tt.src)}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	// Every file's errors are reported, not just the first.
	_, err := NewSet("org", []Source{{Name: "a.cedar", Text: []byte("permit(")}, {Name: "b.cedar", Text: []byte("forbid(")}})
	if es, ok := err.(Errors); !ok || len(es) != 2 {
		t.Fatalf("want 2 errors, got %v", err)
	}
}

func TestDefaultIDIsLocation(t *testing.T) {
	set := mustSet(t, "org", "\n\npermit(principal, action, resource);")
	if p := set.Policies()[0]; p.ID != "org0.cedar:3" {
		t.Fatalf("id %q", p.ID)
	}
}

func TestBuiltinSet(t *testing.T) {
	layers, err := Load(Config{})
	if err != nil {
		t.Fatal(err)
	}
	org := layers[0]
	ro, no := true, false
	read := agentCall("a", nil, "fs", "read", `{}`)
	read.Tool.Annotations.ReadOnly = &ro
	safe := agentCall("a", nil, "fs", "touch", `{}`)
	safe.Tool.Annotations.Destructive = &no
	for _, tt := range []struct {
		c    *call.Call
		want call.Effect
	}{
		{read, call.Allow},
		{safe, call.Allow},
		{agentCall("a", nil, "fs", "delete", `{}`), call.Ask},
	} {
		if res := Decide(mustRequest(t, tt.c), org); res.Effect != tt.want {
			t.Errorf("%s: %s, want %s", tt.c.Action(), res.Effect, tt.want)
		}
	}
}

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		call *call.Call
		code string
	}{
		{&call.Call{Principal: call.Principal{Kind: "robot", ID: "x"}, Server: call.Server{Name: "s"}, Tool: call.Tool{Name: "t"}}, CodeBadKind},
		{&call.Call{Principal: call.Principal{Kind: call.KindAgent}, Server: call.Server{Name: "s"}, Tool: call.Tool{Name: "t"}}, CodeNoPrincipal},
		{&call.Call{Principal: call.Principal{Kind: call.KindAgent, ID: "a"}, Server: call.Server{Name: "s"}}, CodeNoTool},
		{agentCall("a", nil, "Destructive", "t", `{}`), CodeBadServer},
		{agentCall("a", nil, "s", "t", `[1]`), cedarjson.CodeNotObject},
		{agentCall("a", nil, "s", "t", `{"a": 1.00001}`), cedarjson.CodeDecimalPrecision},
		{&call.Call{Principal: call.Principal{Kind: call.KindAgent, ID: "a", Claims: map[string]any{"x": func() {}}}, Server: call.Server{Name: "s"}, Tool: call.Tool{Name: "t"}}, cedarjson.CodeUnsupported},
	}
	for i, tt := range tests {
		_, err := NewRequest(tt.call, nil, cedarjson.DefaultLimits())
		re, ok := err.(*RequestError)
		if !ok || re.Code != tt.code {
			t.Errorf("%d: error %v, want code %s", i, err, tt.code)
		}
	}
}

func TestReloadKeepsLastGoodSet(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		// Write then rename, as editors and config management do.
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("a.cedar", `@id("one") permit(principal, action, resource);`)
	e, err := NewEngine(Config{Dirs: []string{dir}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := e.Version()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloads := make(chan error, 64)
	if err := e.StartWatch(ctx, WatchOptions{reloaded: func(err error) { reloads <- err }}); err != nil {
		t.Fatal(err)
	}
	// The watch is in place when StartWatch returns; each reload it makes
	// is signalled, and the test waits for the one that shows the change.
	waitFor := func(cond func() bool, what string) {
		t.Helper()
		var deadline <-chan time.Time
		if d, ok := t.Deadline(); ok { // a hang detector, not a timing threshold
			timer := time.NewTimer(time.Until(d) - 5*time.Second)
			defer timer.Stop()
			deadline = timer.C
		}
		for !cond() {
			select {
			case <-reloads:
			case <-deadline:
				t.Fatalf("no reload brought %s", what)
			}
		}
	}

	write("a.cedar", `@id("two") permit(principal, action, resource);`)
	waitFor(func() bool { return e.Version() != v1 }, "reload")
	if e.Current().Policy("two") == nil {
		t.Fatal("new policy not loaded")
	}
	v2 := e.Version()

	write("b.cedar", `permit(principal, action, resource) when { oops };`)
	waitFor(func() bool { return e.LastReloadError() != "" }, "failed reload")
	if e.Version() != v2 {
		t.Fatal("an invalid change replaced the policies")
	}
	if !strings.Contains(e.LastReloadError(), "b.cedar:1:") {
		t.Fatalf("reload error without location: %s", e.LastReloadError())
	}

	if err := os.Remove(filepath.Join(dir, "b.cedar")); err != nil {
		t.Fatal(err)
	}
	waitFor(func() bool { return e.LastReloadError() == "" }, "recovery")
	if e.Version() != v2 {
		t.Fatalf("same sources, different version")
	}

	// A new subdirectory is watched too.
	sub := filepath.Join(dir, "team")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "c.cedar"), []byte(`@id("three") permit(principal, action, resource);`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(func() bool { return e.Current().Policy("three") != nil }, "a policy in a new subdirectory")
	if e.WatchError() != "" {
		t.Fatalf("watch error: %s", e.WatchError())
	}
}

// TestWatchStartFails: when hot reload cannot be set up, StartWatch says so
// (ErrWatch) instead of running without it; the caller then refuses to
// start (unless policy.watch is off).
func TestWatchStartFails(t *testing.T) {
	dir := t.TempDir()
	policies := filepath.Join(dir, "policies")
	if err := os.Mkdir(policies, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policies, "a.cedar"), []byte(`permit(principal, action, resource);`), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(Config{Dirs: []string{policies}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The directory goes away between loading and watching.
	if err := os.RemoveAll(policies); err != nil {
		t.Fatal(err)
	}
	err = e.StartWatch(context.Background(), WatchOptions{})
	if !errors.Is(err, ErrWatch) || !strings.Contains(err.Error(), policies) {
		t.Fatalf("watching a directory that is gone: %v", err)
	}
	if e.Current() == nil {
		t.Fatal("the loaded policies are gone")
	}
}

func defaultLimits() cedarjson.Limits { return cedarjson.DefaultLimits() }

// TestCachedEntitiesNeverMix: principals and tools whose group or label
// lists differ never share a cached entity, however the strings are split.
func TestCachedEntitiesNeverMix(t *testing.T) {
	org := mustSet(t, "org", `@id("ab") permit(principal in Group::"a", action, resource) when { principal in Group::"b" };`)
	both := agentCall("x", []string{"a", "b"}, "s", "t", `{}`)
	if res := Decide(mustRequest(t, both), org); res.Effect != call.Allow {
		t.Fatalf("groups a and b: %+v", res)
	}
	for _, groups := range [][]string{{"a\x00b"}, {"1:a1:b"}, {"a"}, {"a", "b\x00"}} {
		c := agentCall("x", groups, "s", "t", `{}`)
		if res := Decide(mustRequest(t, c), org); res.Effect != call.Deny {
			t.Fatalf("groups %q reused another principal's entity: %+v", groups, res)
		}
	}
}

// TestFlowSources: context.flow.trusted and context.flow.sources reach the
// policies; every top-level argument has a sources entry (empty when
// nothing is known of it), so policies read it without `has`.
func TestFlowSources(t *testing.T) {
	org := mustSet(t, "org", `
@id("pay") permit(principal, action == Action::"bank/pay", resource);
@id("payee-from-user") @approval("a payee the user did not name")
forbid(principal, action == Action::"bank/pay", resource) unless { context.flow.trusted.contains("iban") };
@id("from-a-note") forbid(principal, action == Action::"bank/pay", resource)
when { context.flow.sources.iban.contains({"tool": "bank/transactions", "field": "transactions[].subject", "label": "untrusted"}) };
@id("memo-seen") forbid(principal, action == Action::"bank/pay", resource)
when { context.flow.sources.memo != [] };
`)
	for _, tc := range []struct {
		name   string
		flow   call.Flow
		input  string
		effect call.Effect
		by     string
	}{
		{"nothing known", call.Flow{}, `{"iban":"x","memo":"y"}`, call.Ask, "payee-from-user"},
		{"from the user", call.Flow{Trusted: []string{"iban"}}, `{"iban":"x","memo":"y"}`, call.Allow, "pay"},
		{"from a note", call.Flow{Trusted: []string{"iban"}, Sources: map[string][]call.Source{
			"iban": {{Tool: "bank/transactions", Field: "transactions[].subject", Label: "untrusted"}, {Tool: "", Field: "purpose", Label: "user"}},
		}}, `{"iban":"x","memo":"y"}`, call.Deny, "from-a-note"},
		{"memo seen", call.Flow{Trusted: []string{"iban"}, Sources: map[string][]call.Source{
			"memo": {{Tool: "mail/read", Field: "", Label: "untrusted"}},
		}}, `{"iban":"x","memo":"y"}`, call.Deny, "memo-seen"},
		{"no memo argument: the policy errors and denies", call.Flow{Trusted: []string{"iban"}}, `{"iban":"x"}`, call.Deny, "memo-seen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := agentCall("a", nil, "bank", "pay", tc.input)
			c.Flow = tc.flow
			res := Decide(mustRequest(t, c), org)
			if res.Effect != tc.effect || !slices.Contains(res.Policies, tc.by) {
				t.Fatalf("got %s %v, want %s by %s (%+v)", res.Effect, res.Policies, tc.effect, tc.by, res)
			}
		})
	}
}
