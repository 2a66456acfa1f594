package e2e

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The injection suite's tool servers: the test binary, started by
// `toolgate run` with TOOLGATE_E2E_SERVER=replay, becomes a replaying MCP
// server: it offers the tools in REPLAY_TOOLS (a JSON list of names) and
// answers each call with the output REPLAY_OUTPUTS (a JSON object) holds
// for the tool and its arguments (replayKey), "done" otherwise. An output
// that is a JSON object is sent as the text content and as
// structuredContent, other outputs as text. It is a real stdio MCP server
// written with the Go SDK; only what it says is scripted.
func init() {
	if os.Getenv("TOOLGATE_E2E_SERVER") != "replay" {
		return
	}
	replayServer(os.Getenv("REPLAY_SERVER"), os.Getenv("REPLAY_TOOLS"), os.Getenv("REPLAY_OUTPUTS"))
	os.Exit(0)
}

// replayKey names a call: the tool and its arguments as canonical JSON
// (decoded and encoded again, so that maps are sorted and numbers read the
// same on both sides).
func replayKey(tool string, args map[string]any) string {
	if len(args) == 0 {
		return tool
	}
	b, _ := json.Marshal(args)
	var v any
	_ = json.Unmarshal(b, &v)
	b, _ = json.Marshal(v)
	return tool + " " + string(b)
}

func replayServer(name, toolsJSON, outputsJSON string) {
	var tools []string
	outputs := map[string]string{}
	if json.Unmarshal([]byte(toolsJSON), &tools) != nil || (outputsJSON != "" && json.Unmarshal([]byte(outputsJSON), &outputs) != nil) {
		os.Exit(2)
	}
	sort.Strings(tools)
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	for _, tn := range tools {
		tool := &mcp.Tool{Name: tn, InputSchema: map[string]any{"type": "object"}}
		s.AddTool(tool, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args map[string]any
			if len(req.Params.Arguments) > 0 {
				if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
					return nil, err
				}
			}
			out, ok := outputs[replayKey(tn, args)]
			if !ok {
				out = "done"
			}
			res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: out}}}
			if t := strings.TrimSpace(out); strings.HasPrefix(t, "{") {
				var obj map[string]any
				if json.Unmarshal([]byte(t), &obj) == nil {
					res.StructuredContent = obj
				}
			}
			return res, nil
		})
	}
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		os.Exit(1)
	}
}
