package e2e

import (
	"context"
	"encoding/json"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The history scenarios' tool servers: the test binary, started by
// `toolgate run` with TOOLGATE_E2E_SERVER=world, becomes the scripted MCP
// server WORLD_SERVER (one of worldServers), whose tools answer with the
// texts in WORLD_OUTPUTS (a JSON object: tool → text; "done" otherwise).
// It is a real stdio MCP server written with the Go SDK; only what it says
// is scripted.
func init() {
	if os.Getenv("TOOLGATE_E2E_SERVER") != "world" {
		return
	}
	worldServer(os.Getenv("WORLD_SERVER"), os.Getenv("WORLD_OUTPUTS"))
	os.Exit(0)
}

// worldTool is a tool of a scripted server, with the MCP annotations it
// states (nil: not stated).
type worldTool struct {
	name      string
	readOnly  *bool
	openWorld *bool
}

var yes, no = true, false

// worldServers are the servers of the scenarios. Their labels are in
// examples/injection/toolgate.yaml, except chat and web, whose labels come
// from the annotations they state.
var worldServers = map[string][]worldTool{
	"mail":     {{name: "list_inbox"}, {name: "read_email"}, {name: "send_email"}},
	"vault":    {{name: "get_secret"}},
	"drive":    {{name: "read_doc"}},
	"bank":     {{name: "transactions"}, {name: "payees"}, {name: "send_money"}},
	"github":   {{name: "read_issue"}, {name: "read_file"}, {name: "push_files"}, {name: "create_gist"}, {name: "add_collaborator"}},
	"ci":       {{name: "get_secret"}},
	"shop":     {{name: "read_ticket"}, {name: "get_order"}, {name: "refund"}},
	"calendar": {{name: "read_invites"}, {name: "share"}},
	"chat":     {{name: "read_channel", readOnly: &yes, openWorld: &yes}, {name: "post_message", readOnly: &no, openWorld: &yes}},
	"web":      {{name: "fetch", readOnly: &yes, openWorld: &yes}},
}

func worldServer(name, outputs string) {
	out := map[string]string{}
	if outputs != "" {
		if err := json.Unmarshal([]byte(outputs), &out); err != nil {
			os.Exit(2)
		}
	}
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	for _, wt := range worldServers[name] {
		tool := &mcp.Tool{Name: wt.name, InputSchema: map[string]any{"type": "object"}}
		if wt.readOnly != nil || wt.openWorld != nil {
			tool.Annotations = &mcp.ToolAnnotations{OpenWorldHint: wt.openWorld}
			if wt.readOnly != nil {
				tool.Annotations.ReadOnlyHint = *wt.readOnly
			}
		}
		text, ok := out[wt.name]
		if !ok {
			text = "done"
		}
		s.AddTool(tool, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
		})
	}
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		os.Exit(1)
	}
}
