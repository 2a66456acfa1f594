//lint:file-ignore SA1019 the test drives the MCP features deprecated in 2026-07-28 (sampling, roots, logging) to prove toolgate relays them unchanged

package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/testutil"
)

// observed is what reached a client's handlers.
type observed struct {
	mu           sync.Mutex
	logs         int
	progress     []float64
	updated      []string
	sampling     int
	elicitations int
	toolsChanged int
}

func (o *observed) count(f func() int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return f()
}

func (o *observed) options() *mcp.ClientOptions {
	return &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			o.mu.Lock()
			o.sampling++
			o.mu.Unlock()
			return &mcp.CreateMessageResult{Content: &mcp.TextContent{Text: "a sampled answer"}, Model: "test-model", Role: "assistant"}, nil
		},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			o.mu.Lock()
			o.elicitations++
			o.mu.Unlock()
			return &mcp.ElicitResult{Action: "decline"}, nil
		},
		LoggingMessageHandler: func(context.Context, *mcp.LoggingMessageRequest) {
			o.mu.Lock()
			o.logs++
			o.mu.Unlock()
		},
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			o.mu.Lock()
			o.progress = append(o.progress, r.Params.Progress)
			o.mu.Unlock()
		},
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
			o.mu.Lock()
			o.updated = append(o.updated, r.Params.URI)
			o.mu.Unlock()
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			o.mu.Lock()
			o.toolsChanged++
			o.mu.Unlock()
		},
	}
}

// TestEverythingThroughToolgate runs the same session against
// @modelcontextprotocol/server-everything (stdio) directly and through
// `toolgate run`, and requires the same results and the same notifications
// and server requests. Covered:
//
//   - initialize (server info, capabilities, instructions, version), ping
//   - tools/list (the same, less the tool a policy forbids), tools/call of
//     echo, get-sum, get-tiny-image, get-structured-content,
//     get-annotated-message, get-resource-links, get-resource-reference
//   - prompts/list, prompts/get (no arguments, arguments, embedded resource)
//   - completion/complete
//   - resources/list, resources/templates/list, resources/read (static and
//     templated), resources/subscribe and notifications/resources/updated,
//     resources/unsubscribe
//   - logging/setLevel and notifications/message
//   - progress notifications of a long-running tool call
//   - sampling/createMessage and elicitation/create requests from the server
//     during a tool call, answered by the client
//   - roots/list from the server (at initialization and in get-roots-list)
//   - a denied tools/call (get-env) with the policy's reason
func TestEverythingThroughToolgate(t *testing.T) {
	server := testutil.NodeBin(t, "mcp-server-everything")
	e := newEnv(t)
	ctx := timeout(t, 3*time.Minute)

	var do, po observed
	dc := do.options()
	pc := po.options()
	direct := connectWithRoots(t, ctx, exec.Command(server, "stdio"), dc)
	proxied := connectWithRoots(t, ctx, e.toolgate("--policy", testdataDir(t)+"/everything", "--", server, "stdio"), pc)

	step := func(what string, f func(cs *mcp.ClientSession) any) {
		t.Helper()
		sameJSON(t, what, f(direct), f(proxied))
	}

	step("initialize result", func(cs *mcp.ClientSession) any { return cs.InitializeResult() })
	for _, cs := range []*mcp.ClientSession{direct, proxied} {
		if err := cs.Ping(ctx, nil); err != nil {
			t.Errorf("ping: %v", err)
		}
	}

	dTools, pTools := toolNames(t, ctx, direct), toolNames(t, ctx, proxied)
	want := slices.DeleteFunc(slices.Clone(dTools), func(n string) bool { return n == "get-env" })
	if !slices.Equal(pTools, want) {
		t.Errorf("tools through toolgate = %v\nwant %v", pTools, want)
	}
	for _, need := range []string{"trigger-sampling-request", "trigger-elicitation-request", "get-roots-list"} {
		if !slices.Contains(pTools, need) {
			t.Errorf("tool %s (registered after initialization) missing through toolgate: %v", need, pTools)
		}
	}

	// Prompts and completion.
	step("prompts/list", func(cs *mcp.ClientSession) any { return must2(t)(cs.ListPrompts(ctx, nil)) })
	step("prompts/get simple", func(cs *mcp.ClientSession) any {
		return must2(t)(cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "simple-prompt"}))
	})
	step("prompts/get args", func(cs *mcp.ClientSession) any {
		return must2(t)(cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "args-prompt", Arguments: map[string]string{"city": "Paris", "state": "TX"}}))
	})
	step("prompts/get resource", func(cs *mcp.ClientSession) any {
		return must2(t)(cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "resource-prompt", Arguments: map[string]string{"resourceType": "Text", "resourceId": "1"}}))
	})
	step("completion/complete", func(cs *mcp.ClientSession) any {
		return must2(t)(cs.Complete(ctx, &mcp.CompleteParams{
			Ref:      &mcp.CompleteReference{Type: "ref/prompt", Name: "completable-prompt"},
			Argument: mcp.CompleteParamsArgument{Name: "department", Value: "E"},
		}))
	})

	// Resources.
	var static string
	step("resources/list", func(cs *mcp.ClientSession) any {
		r, err := cs.ListResources(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Resources) > 0 {
			static = r.Resources[0].URI
		}
		return r
	})
	step("resources/templates/list", func(cs *mcp.ClientSession) any { return must2(t)(cs.ListResourceTemplates(ctx, nil)) })
	step("resources/read static", func(cs *mcp.ClientSession) any {
		return must2(t)(cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: static}))
	})
	step("resources/read templated", func(cs *mcp.ClientSession) any {
		return must2(t)(cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://resource/dynamic/text/1"}))
	})

	// Tool calls: the same results.
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"echo", map[string]any{"message": "hello through toolgate"}},
		{"get-sum", map[string]any{"a": 2, "b": 3.5}},
		{"get-tiny-image", map[string]any{}},
		{"get-structured-content", map[string]any{"location": "New York"}},
		{"get-annotated-message", map[string]any{"messageType": "error", "includeImage": true}},
		{"get-resource-links", map[string]any{"count": 2}},
		{"get-resource-reference", map[string]any{"resourceType": "Text", "resourceId": 1}},
		{"get-roots-list", map[string]any{}},
	} {
		step("tools/call "+c.tool, func(cs *mcp.ClientSession) any { return callTool(t, ctx, cs, c.tool, c.args) })
	}

	// Progress notifications.
	step("long-running operation", func(cs *mcp.ClientSession) any {
		p := &mcp.CallToolParams{Name: "trigger-long-running-operation", Arguments: map[string]any{"duration": 1, "steps": 2}}
		p.SetProgressToken("progress-1")
		return must2(t)(cs.CallTool(ctx, p))
	})
	// Server-to-client requests in the middle of a tool call.
	step("sampling", func(cs *mcp.ClientSession) any {
		return callTool(t, ctx, cs, "trigger-sampling-request", map[string]any{"prompt": "say hi", "maxTokens": 5})
	})
	step("elicitation", func(cs *mcp.ClientSession) any {
		return callTool(t, ctx, cs, "trigger-elicitation-request", map[string]any{})
	})

	// Logging and subscriptions: notifications the server sends on its own.
	for _, cs := range []*mcp.ClientSession{direct, proxied} {
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
			t.Fatalf("logging/setLevel: %v", err)
		}
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: static}); err != nil {
			t.Fatalf("resources/subscribe: %v", err)
		}
	}
	step("toggle logging", func(cs *mcp.ClientSession) any { return callTool(t, ctx, cs, "toggle-simulated-logging", nil) })
	step("toggle updates", func(cs *mcp.ClientSession) any { return callTool(t, ctx, cs, "toggle-subscriber-updates", nil) })

	deadline := time.Now().Add(15 * time.Second)
	for _, o := range []*observed{&do, &po} {
		for time.Now().Before(deadline) && (o.count(func() int { return o.logs }) == 0 || o.count(func() int { return len(o.updated) }) == 0) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for name, o := range map[string]*observed{"direct": &do, "through toolgate": &po} {
		o.mu.Lock()
		if o.logs == 0 {
			t.Errorf("%s: no log messages", name)
		}
		if len(o.updated) == 0 || o.updated[0] != static {
			t.Errorf("%s: resource updates = %v, want %s", name, o.updated, static)
		}
		if len(o.progress) < 2 {
			t.Errorf("%s: progress notifications = %v", name, o.progress)
		}
		if o.sampling != 1 || o.elicitations != 1 {
			t.Errorf("%s: %d sampling, %d elicitation requests; want 1 each", name, o.sampling, o.elicitations)
		}
		o.mu.Unlock()
	}
	if !slices.Equal(do.progress, po.progress) {
		t.Errorf("progress differs: direct %v, through toolgate %v", do.progress, po.progress)
	}
	for _, cs := range []*mcp.ClientSession{direct, proxied} {
		if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: static}); err != nil {
			t.Errorf("resources/unsubscribe: %v", err)
		}
	}

	// The forbidden tool: hidden, and denied with the policy's reason.
	msg, dec := denial(t, callTool(t, ctx, proxied, "get-env", nil))
	if !strings.Contains(msg, "the environment may hold secrets") || !slices.Equal(toStrings(dec["policies"]), []string{"no-env"}) {
		t.Errorf("get-env denial: %q %v", msg, dec)
	}
	if res := callTool(t, ctx, direct, "get-env", nil); res.IsError {
		t.Errorf("get-env fails directly too: %s", asJSON(t, res))
	}
}

// connectWithRoots connects a client that offers one root, so the server's
// roots/list requests have something to return.
func connectWithRoots(t *testing.T, ctx context.Context, cmd *exec.Cmd, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "toolgate-e2e", Version: "1"}, opts)
	client.AddRoots(&mcp.Root{URI: "file:///tmp/e2e-root", Name: "e2e"})
	if cmd.Stderr == nil {
		cmd.Stderr = testWriter{}
	}
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 3 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect to %s: %v", strings.Join(cmd.Args, " "), err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type testWriter struct{}

func (testWriter) Write(p []byte) (int, error) { return len(p), nil }

// must2 turns (v, err) into v, failing the test on err.
func must2(t *testing.T) func(any, error) any {
	return func(v any, err error) any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
