package toolgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate"
	"github.com/toolgate/toolgate/internal/testutil"
)

const policies = `
@id("support-crm")
permit (principal in Group::"support", action in Action::"crm", resource);

@id("no-bulk-export")
@reason("bulk exports need a human")
forbid (principal, action == Action::"crm/export", resource)
when { context.input.limit > 100 };
`

func TestGate(t *testing.T) {
	dir := t.TempDir()
	gate, err := toolgate.New(toolgate.Options{Policies: map[string]string{"crm.cedar": policies}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bot := toolgate.Principal{Kind: "agent", ID: "support-bot", Groups: []string{"support"}}

	ran := 0
	tool := func(context.Context) ([]byte, error) { ran++; return []byte(`{"ok":true}`), nil }

	d, res, err := gate.Run(ctx, toolgate.Call{Principal: bot, Server: "crm", Tool: "lookup", Arguments: json.RawMessage(`{"email":"ann@example.com"}`)}, tool)
	if err != nil || !d.Allowed || string(res) != `{"ok":true}` || ran != 1 || d.Policies[0] != "support-crm" {
		t.Fatalf("allowed call: %+v %s %v (ran %d)", d, res, err, ran)
	}
	d, _, err = gate.Run(ctx, toolgate.Call{Principal: bot, Server: "crm", Tool: "export", Arguments: json.RawMessage(`{"limit":5000}`)}, tool)
	if !errors.Is(err, toolgate.ErrNotAllowed) || d.Allowed || ran != 1 || !strings.Contains(d.Reason, "bulk exports need a human") {
		t.Fatalf("denied call: %+v %v (ran %d)", d, err, ran)
	}
	toolErr := errors.New("crm is down")
	if _, _, err := gate.Run(ctx, toolgate.Call{Principal: bot, Server: "crm", Tool: "lookup"}, func(context.Context) ([]byte, error) { return nil, toolErr }); err != toolErr {
		t.Fatalf("tool error not returned: %v", err)
	}
	if d := gate.Decide(ctx, toolgate.Call{Principal: toolgate.Principal{Kind: "agent", ID: "x"}, Server: "crm", Tool: "lookup"}); d.Effect != "deny" || d.Reason == "" {
		t.Fatalf("decide: %+v", d)
	}
	if err := gate.Close(); err != nil {
		t.Fatal(err)
	}

	// Every call is in the audit trail, and the trail verifies.
	out, err := exec.Command(testutil.Toolgate(t), "--data-dir", dir, "audit", "verify").CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
}

func TestGateWithoutDataDirOnlyDecides(t *testing.T) {
	gate, err := toolgate.New(toolgate.Options{Policies: map[string]string{"p.cedar": `permit(principal, action, resource);`}})
	if err != nil {
		t.Fatal(err)
	}
	c := toolgate.Call{Principal: toolgate.Principal{Kind: "agent", ID: "a"}, Server: "s", Tool: "t"}
	if d := gate.Decide(context.Background(), c); !d.Allowed {
		t.Fatalf("decide: %+v", d)
	}
	_, _, err = gate.Run(context.Background(), c, func(context.Context) ([]byte, error) {
		t.Fatal("ran without an audit trail")
		return nil, nil
	})
	if !errors.Is(err, toolgate.ErrNotAllowed) {
		t.Fatalf("run without audit: %v", err)
	}
}

func TestGateConfigAndErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("servers:\n  - name: db\n    tools:\n      query: {facts: {sql: [sql]}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gate, err := toolgate.New(toolgate.Options{ConfigFile: cfg, Policies: map[string]string{"p.cedar": `
@id("q") permit(principal, action == Action::"db/query", resource);
@id("ro") forbid(principal, action == Action::"db/query", resource) when { context.facts.sql.destructive };`}})
	if err != nil {
		t.Fatal(err)
	}
	c := toolgate.Call{Principal: toolgate.Principal{Kind: "agent", ID: "a"}, Server: "db", Tool: "query", Arguments: json.RawMessage(`{"sql":"DELETE FROM t"}`)}
	if d := gate.Decide(context.Background(), c); d.Effect != "deny" || d.Policies[0] != "ro" || len(d.Diagnostics) != 0 {
		t.Fatalf("facts from the configuration: %+v", d)
	}
	c.Arguments = json.RawMessage(`{"sql":"SELECT 1"}`)
	if d := gate.Decide(context.Background(), c); !d.Allowed {
		t.Fatalf("a select: %+v", d)
	}
	if _, err := toolgate.New(toolgate.Options{Policies: map[string]string{"bad.cedar": "permit("}}); err == nil || !strings.Contains(err.Error(), "bad.cedar:1:") {
		t.Fatalf("invalid policy: %v", err)
	}
}

func Example() {
	gate, err := toolgate.New(toolgate.Options{Policies: map[string]string{"p.cedar": `
@id("readers") permit (principal in Group::"readers", action in Action::"ReadOnly", resource);`}})
	if err != nil {
		panic(err)
	}
	ro := true
	d := gate.Decide(context.Background(), toolgate.Call{
		Principal:   toolgate.Principal{Kind: "agent", ID: "helper", Groups: []string{"readers"}},
		Server:      "fs",
		Tool:        "read_file",
		Annotations: toolgate.Annotations{ReadOnly: &ro},
		Arguments:   json.RawMessage(`{"path": "/docs/a.md"}`),
	})
	fmt.Println(d.Effect, d.Policies)
	// Output: allow [readers]
}
