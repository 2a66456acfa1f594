package e2e

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestApprovalByElicitation: with approvals.elicitation, `toolgate run` and
// the HTTP gateway of `toolgate serve` ask the person at the MCP client (the Go SDK client's elicitation
// handler); they answer as the human the agent acts for, through the same
// policies. Approve runs the call; decline denies it.
func TestApprovalByElicitation(t *testing.T) {
	for _, door := range []string{"run", "serve"} {
		t.Run(door, func(t *testing.T) {
			w := newWorld(t)
			cfg := w.config("elicit", "  timeout: 30s\n  elicitation: true\nprincipal: {kind: agent, id: bot, owner: alice}\n")
			var asked atomic.Int32
			answer := atomic.Value{}
			answer.Store("approve")
			opts := &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				asked.Add(1)
				if !strings.Contains(req.Params.Message, "bank/pay") {
					t.Errorf("elicitation message: %q", req.Params.Message)
				}
				if answer.Load() == "decline" {
					return &mcp.ElicitResult{Action: "decline"}, nil
				}
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"answer": "approve", "comment": "yes, me"}}, nil
			}}
			var cs *mcp.ClientSession
			if door == "run" {
				cs, _ = w.runWith(cfg, opts)
			} else {
				// The agent's API key makes it bot acting for alice; the
				// elicitation request comes on the call's event stream.
				w.serve(cfg)
				cs = w.gatewayWith(opts)
			}
			if got := wait(t, pay(cs, 10, "acct-1")); got != "paid 10 to acct-1" {
				t.Fatalf("elicited approval: %q", got)
			}
			answer.Store("decline")
			if got := wait(t, pay(cs, 20, "acct-2")); !strings.HasPrefix(got, "denied: ") || !strings.Contains(got, `User::"alice"`) {
				t.Fatalf("elicited denial: %q", got)
			}
			if asked.Load() != 2 || len(w.payments()) != 1 {
				t.Fatalf("asked %d times, payments %v", asked.Load(), w.payments())
			}
		})
	}
}
