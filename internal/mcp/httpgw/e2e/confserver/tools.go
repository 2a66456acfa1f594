//lint:file-ignore SA1019 the conformance scenarios call sampling and logging, which protocol 2026-07-28 deprecates (SEP-2577) but the suite still checks

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// noArgs is the input schema of a tool without arguments.
var noArgs = map[string]any{"type": "object"}

// addTools registers the tools the scenarios call; the tool names and
// results are the ones the scenarios' descriptions ask for.
func addTools(s *mcp.Server) {
	simple := func(name, desc string, content ...mcp.Content) {
		s.AddTool(&mcp.Tool{Name: name, Description: desc, InputSchema: noArgs},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: content}, nil
			})
	}
	// tools-call-simple-text, -image, -audio, -embedded-resource, -mixed-content
	simple("test_simple_text", "Returns a simple text response",
		&mcp.TextContent{Text: "This is a simple text response for testing."})
	simple("test_image_content", "Returns a 1x1 red PNG image",
		&mcp.ImageContent{Data: redPixelPNG, MIMEType: "image/png"})
	simple("test_audio_content", "Returns a short WAV tone",
		&mcp.AudioContent{Data: toneWAV, MIMEType: "audio/wav"})
	simple("test_embedded_resource", "Returns an embedded text resource",
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
			URI: "test://embedded-resource", MIMEType: "text/plain", Text: "This is an embedded resource content.",
		}})
	simple("test_multiple_content_types", "Returns text, an image and an embedded resource",
		&mcp.TextContent{Text: "Multiple content types test:"},
		&mcp.ImageContent{Data: redPixelPNG, MIMEType: "image/png"},
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
			URI: "test://mixed-content-resource", MIMEType: "application/json", Text: `{"test":"data","value":123}`,
		}})

	// tools-call-error: a tool error is a result with isError, not a
	// JSON-RPC error.
	s.AddTool(&mcp.Tool{Name: "test_error_handling", Description: "Always fails (isError: true)", InputSchema: noArgs},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{
				&mcp.TextContent{Text: "This tool intentionally returns an error for testing"},
			}}, nil
		})

	// tools-call-with-logging: three info messages, 50ms apart.
	s.AddTool(&mcp.Tool{Name: "test_tool_with_logging", Description: "Sends three log messages while it runs", InputSchema: noArgs},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			for i, msg := range []string{"Tool execution started", "Tool processing data", "Tool execution completed"} {
				if i > 0 {
					if err := pause(ctx, 50*time.Millisecond); err != nil {
						return nil, err
					}
				}
				if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "confserver", Data: msg}); err != nil {
					return nil, err
				}
			}
			return text("Tool with logging executed successfully"), nil
		})

	// tools-call-with-progress: 0, 50, 100 of 100, 50ms apart, when the
	// call carries a progress token.
	s.AddTool(&mcp.Tool{Name: "test_tool_with_progress", Description: "Reports progress 0, 50 and 100 of 100", InputSchema: noArgs},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			token := req.Params.GetProgressToken()
			for i, p := range []float64{0, 50, 100} {
				if i > 0 {
					if err := pause(ctx, 50*time.Millisecond); err != nil {
						return nil, err
					}
				}
				if token == nil {
					continue
				}
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token, Progress: p, Total: 100, Message: fmt.Sprintf("step %d of 3", i+1),
				}); err != nil {
					return nil, err
				}
			}
			return text("Tool with progress executed successfully"), nil
		})

	// tools-call-sampling: sampling/createMessage with the prompt.
	type samplingIn struct {
		Prompt string `json:"prompt" jsonschema:"the prompt to send to the LLM"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "test_sampling", Description: "Asks the client's LLM (sampling/createMessage) and returns its answer"},
		func(ctx context.Context, req *mcp.CallToolRequest, in samplingIn) (*mcp.CallToolResult, any, error) {
			if p := req.Session.InitializeParams(); p == nil || p.Capabilities == nil || p.Capabilities.Sampling == nil {
				return errorText("the client does not support sampling"), nil, nil
			}
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
				Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Prompt}}},
				MaxTokens: 100,
			})
			if err != nil {
				return errorText("sampling failed: " + err.Error()), nil, nil
			}
			answer := fmt.Sprintf("(%T content)", res.Content)
			if tc, ok := res.Content.(*mcp.TextContent); ok {
				answer = tc.Text
			}
			return text("LLM response: " + answer), nil, nil
		})

	// tools-call-elicitation: elicitation/create with the message and a
	// username/email form.
	type elicitationIn struct {
		Message string `json:"message" jsonschema:"the message to show the user"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "test_elicitation", Description: "Asks the user (elicitation/create) for a username and an email address"},
		func(ctx context.Context, req *mcp.CallToolRequest, in elicitationIn) (*mcp.CallToolResult, any, error) {
			return elicit(ctx, req, "User response", in.Message, map[string]any{
				"type": "object",
				"properties": map[string]any{
					"username": map[string]any{"type": "string", "description": "User's response"},
					"email":    map[string]any{"type": "string", "description": "User's email address"},
				},
				"required": []string{"username", "email"},
			}), nil, nil
		})

	// elicitation-sep1034-defaults: a default for every primitive type.
	s.AddTool(&mcp.Tool{Name: "test_elicitation_sep1034_defaults", Description: "Elicits a form whose fields have default values (SEP-1034)", InputSchema: noArgs},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return elicit(ctx, req, "Elicitation completed", "Please review your profile (defaults are filled in)", map[string]any{
				"type": "object",
				"properties": map[string]any{
					"name":     map[string]any{"type": "string", "description": "Full name", "default": "John Doe"},
					"age":      map[string]any{"type": "integer", "description": "Age in years", "minimum": 0, "maximum": 150, "default": 30},
					"score":    map[string]any{"type": "number", "description": "Score", "minimum": 0, "maximum": 100, "default": 95.5},
					"status":   map[string]any{"type": "string", "description": "Account status", "enum": []string{"active", "inactive", "pending"}, "default": "active"},
					"verified": map[string]any{"type": "boolean", "description": "Verified account", "default": true},
				},
			}), nil
		})

	// elicitation-sep1330-enums: the five enum forms of SEP-1330.
	titled := func(prefix string, titles ...string) []map[string]any {
		var out []map[string]any
		for i, t := range titles {
			out = append(out, map[string]any{"const": fmt.Sprintf("%s%d", prefix, i+1), "title": t})
		}
		return out
	}
	options := []string{"option1", "option2", "option3"}
	s.AddTool(&mcp.Tool{Name: "test_elicitation_sep1330_enums", Description: "Elicits a form with every enum form of SEP-1330", InputSchema: noArgs},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return elicit(ctx, req, "Elicitation completed", "Please choose", map[string]any{
				"type": "object",
				"properties": map[string]any{
					"untitledSingle": map[string]any{"type": "string", "description": "Untitled single-select", "enum": options},
					"titledSingle": map[string]any{"type": "string", "description": "Titled single-select",
						"oneOf": titled("value", "First Option", "Second Option", "Third Option")},
					"legacyEnum": map[string]any{"type": "string", "description": "Legacy titled single-select",
						"enum": []string{"opt1", "opt2", "opt3"}, "enumNames": []string{"Option One", "Option Two", "Option Three"}},
					"untitledMulti": map[string]any{"type": "array", "description": "Untitled multi-select",
						"items": map[string]any{"type": "string", "enum": options}},
					"titledMulti": map[string]any{"type": "array", "description": "Titled multi-select",
						"items": map[string]any{"anyOf": titled("value", "First Choice", "Second Choice", "Third Choice")}},
				},
			}), nil
		})

	// json-schema-2020-12 (a pending scenario): the input schema is sent
	// as written, $schema, $defs and additionalProperties included.
	s.AddTool(&mcp.Tool{Name: "json_schema_2020_12_tool", Description: "Tool with JSON Schema 2020-12 features", InputSchema: json.RawMessage(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {
    "address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}
  },
  "properties": {
    "name": {"type": "string"},
    "address": {"$ref": "#/$defs/address"}
  },
  "additionalProperties": false
}`)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return text("Received arguments: " + string(req.Params.Arguments)), nil
		})

	// server-sse-polling (a pending scenario, SEP-1699): the tool closes
	// its SSE stream before it answers; the client reconnects with
	// Last-Event-ID and gets the result from the event store.
	s.AddTool(&mcp.Tool{Name: "test_reconnection", Description: "Closes its SSE stream mid-call; the result comes after the client reconnects", InputSchema: noArgs},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			// Only from 2025-11-25 on does the stream start with a priming
			// event whose id the client can resume from; before, closing
			// it would lose the result.
			if req.Extra != nil && req.Extra.CloseSSEStream != nil && req.Extra.Header.Get("Mcp-Protocol-Version") >= "2025-11-25" {
				req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 500 * time.Millisecond})
			}
			if err := pause(ctx, 100*time.Millisecond); err != nil {
				return nil, err
			}
			return text("Reconnection test completed successfully"), nil
		})
}

// elicit asks the client with elicitation/create and reports its answer as
// "<label>: action=..., content={...}". A client that cannot elicit gets
// an error result.
func elicit(ctx context.Context, req *mcp.CallToolRequest, label, message string, schema map[string]any) *mcp.CallToolResult {
	res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: message, RequestedSchema: schema})
	if err != nil {
		return errorText("elicitation failed: " + err.Error())
	}
	content, _ := json.Marshal(res.Content)
	return text(fmt.Sprintf("%s: action=%s, content=%s", label, res.Action, content))
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func errorText(s string) *mcp.CallToolResult {
	r := text(s)
	r.IsError = true
	return r
}

// pause waits d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
