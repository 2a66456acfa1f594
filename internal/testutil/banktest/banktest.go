// Package banktest is the payment MCP server that end-to-end tests run as
// their upstream: the test binary, started again by toolgate with
// TOOLGATE_E2E_SERVER=bank, serves it over stdio. Its pay tool appends
// "<amount> <to>" to the file $BANK_LOG, so a test reads what really ran.
package banktest

import (
	"context"
	"fmt"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type payArgs struct {
	Amount int    `json:"amount"`
	To     string `json:"to"`
}

// Server is the bank with its pay tool; a test may add tools before Run.
func Server() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "bank", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "pay", Description: "Pay an amount to an account."},
		func(_ context.Context, _ *mcp.CallToolRequest, a payArgs) (*mcp.CallToolResult, any, error) {
			f, err := os.OpenFile(os.Getenv("BANK_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				return nil, nil, err
			}
			fmt.Fprintf(f, "%d %s\n", a.Amount, a.To)
			f.Close()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("paid %d to %s", a.Amount, a.To)}}}, nil, nil
		})
	return s
}

// Run serves s over stdio until its input ends; the process exits 1 if it
// cannot.
func Run(s *mcp.Server) {
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		os.Exit(1)
	}
}
