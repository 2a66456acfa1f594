package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/testutil"
)

// runSession starts `toolgate run --name NAME` (the config's command) and
// connects the Go SDK client to it; stderr gets toolgate's and the server's
// stderr.
func (w *world) runSession(name string) *mcp.ClientSession {
	w.t.Helper()
	cmd := exec.Command(testutil.Toolgate(w.t), "--config", w.config, "run", "--name", name)
	cmd.Env = append(os.Environ(), w.env...)
	logs := &testutil.SyncBuffer{}
	w.out = append(w.out, logs)
	cmd.Stderr = logs
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}, nil)
	if err != nil {
		w.t.Fatalf("connect: %v\n%s", err, logs.String())
	}
	w.t.Cleanup(func() {
		cs.Close()
		if w.t.Failed() {
			w.t.Logf("toolgate run output:\n%s", logs.String())
		}
	})
	return cs
}

// TestStdioUpstreamChecksMetaToken: through `toolgate run`, a stdio server
// on the Go SDK gets each allowed call's token in params._meta and checks
// it with txntoken against the JWKS of a `toolgate serve` on the same data
// directory; each call gets a token of its own.
func TestStdioUpstreamChecksMetaToken(t *testing.T) {
	w := newWorld(t)
	w.env = []string{"TOOLGATE_E2E_SERVER=tools", "TXN_JWKS=" + w.jwks(), "TXN_AUDIENCE=toolgate:server:tools"}
	w.write("", fmt.Sprintf(`principal: {kind: agent, id: researcher, owner: alice}
servers:
  - {name: tools, command: %s}`, os.Args[0]), `credentials:
  servers:
    tools: {}`)
	w.serve()
	s := w.runSession("tools")
	var txns []string
	for range 2 {
		res := callTool(t, s, "create_issue", map[string]any{"title": "same"})
		m := claimsRE.FindStringSubmatch(text(res))
		if res.IsError || m == nil || m[1] != "alice" || m[2] != "researcher" || m[3] != "tools/create_issue" {
			t.Fatalf("the stdio server saw: %s\n%s", text(res), w.logs())
		}
		txns = append(txns, m[4]+" "+m[5])
	}
	if txns[0] == txns[1] {
		t.Fatalf("two calls carried the same token: %v", txns)
	}
	// The gateway's stdio servers get it the same way.
	res := callTool(t, w.connect("tools"), "create_issue", map[string]any{"title": "via serve"})
	if res.IsError || !strings.Contains(text(res), "created issue via serve; sub=alice") {
		t.Fatalf("through serve: %s", text(res))
	}
}
