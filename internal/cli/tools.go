package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/version"
)

// listedTool is a tool as a server's tools/list describes it.
type listedTool struct {
	Name        string           `json:"name"`
	InputSchema json.RawMessage  `json:"inputSchema"`
	Annotations call.Annotations `json:"annotations"`
	// raw is the tool's definition as JSON, for its pin.
	raw json.RawMessage
}

// listTools starts (or reaches) a configured server, initializes an MCP
// session and lists its tools (every page). A stdio server gets toolgate's
// environment without the task token, as under `toolgate run`, but not the
// brokered secrets of the credentials section.
func listTools(ctx context.Context, sc config.ServerConfig) ([]listedTool, error) {
	var t mcp.Transport
	var stderr tailBuffer
	switch {
	case sc.Command != "":
		cmd := exec.CommandContext(ctx, sc.Command, sc.Args...)
		cmd.Env = serverEnv()
		cmd.Stderr = &stderr
		t = &mcp.CommandTransport{Command: cmd}
	case sc.URL != "":
		t = &mcp.StreamableClientTransport{Endpoint: sc.URL, MaxRetries: -1}
	default:
		return nil, errors.New("it has neither a command nor a url")
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "toolgate", Version: version.Version}, nil)
	session, err := client.Connect(ctx, t, nil)
	if err != nil {
		return nil, withStderr(fmt.Errorf("MCP initialize: %w", err), &stderr)
	}
	defer session.Close()
	var out []listedTool
	for tool, err := range session.Tools(ctx, nil) {
		if err != nil {
			return nil, withStderr(fmt.Errorf("tools/list: %w", err), &stderr)
		}
		b, err := json.Marshal(tool)
		if err != nil {
			return nil, err
		}
		var lt listedTool
		if err := json.Unmarshal(b, &lt); err != nil {
			return nil, fmt.Errorf("tools/list: tool %q: %w", tool.Name, err)
		}
		lt.raw = b
		out = append(out, lt)
	}
	return out, nil
}

func withStderr(err error, stderr *tailBuffer) error {
	if s := strings.TrimSpace(stderr.String()); s != "" {
		return fmt.Errorf("%w; the server's stderr ends with:\n%s", err, s)
	}
	return err
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2048 {
		b.buf = b.buf[len(b.buf)-2048:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
