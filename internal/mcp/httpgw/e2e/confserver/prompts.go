package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// addPrompts registers the prompts of prompts-list, prompts-get-simple,
// -with-args, -embedded-resource and -with-image.
func addPrompts(s *mcp.Server) {
	s.AddPrompt(&mcp.Prompt{Name: "test_simple_prompt", Description: "A simple prompt without arguments"},
		func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return messages(&mcp.TextContent{Text: "This is a simple prompt for testing."}), nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "test_prompt_with_arguments", Description: "A prompt with two required arguments", Arguments: []*mcp.PromptArgument{
		{Name: "arg1", Description: "First test argument", Required: true},
		{Name: "arg2", Description: "Second test argument", Required: true},
	}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		args, err := required(req, "arg1", "arg2")
		if err != nil {
			return nil, err
		}
		return messages(&mcp.TextContent{Text: fmt.Sprintf("Prompt with arguments: arg1='%s', arg2='%s'", args[0], args[1])}), nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "test_prompt_with_embedded_resource", Description: "A prompt that embeds the resource it is given", Arguments: []*mcp.PromptArgument{
		{Name: "resourceUri", Description: "URI of the resource to embed", Required: true},
	}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		args, err := required(req, "resourceUri")
		if err != nil {
			return nil, err
		}
		return messages(
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: args[0], MIMEType: "text/plain", Text: "Embedded resource content for testing."}},
			&mcp.TextContent{Text: "Please process the embedded resource above."},
		), nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "test_prompt_with_image", Description: "A prompt with an image"},
		func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return messages(
				&mcp.ImageContent{Data: redPixelPNG, MIMEType: "image/png"},
				&mcp.TextContent{Text: "Please analyze the image above."},
			), nil
		})
}

// messages is a prompt result with one user message per content.
func messages(content ...mcp.Content) *mcp.GetPromptResult {
	r := &mcp.GetPromptResult{}
	for _, c := range content {
		r.Messages = append(r.Messages, &mcp.PromptMessage{Role: "user", Content: c})
	}
	return r
}

// required returns the named arguments of a prompt request, or an error
// naming those missing.
func required(req *mcp.GetPromptRequest, names ...string) ([]string, error) {
	var vals, missing []string
	for _, n := range names {
		v, ok := req.Params.Arguments[n]
		if !ok {
			missing = append(missing, n)
		}
		vals = append(vals, v)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("prompt %s: missing required arguments: %s", req.Params.Name, strings.Join(missing, ", "))
	}
	return vals, nil
}

// completions are the values offered for each completable argument: the
// prompt's arguments and the resource template's id.
var completions = map[mcp.CompleteReference]map[string][]string{
	{Type: "ref/prompt", Name: "test_prompt_with_arguments"}: {
		"arg1": {"paris", "park", "party", "test", "testValue1"},
		"arg2": {"world", "wonder", "testValue2"},
	},
	{Type: "ref/resource", URI: templatePrefix + "{id}" + templateSuffix}: {
		"id": {"1", "2", "3", "123"},
	},
}

// complete answers completion/complete with the values that start with
// what the client has typed (completion-complete).
func complete(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	if req.Params.Ref == nil {
		return nil, fmt.Errorf("completion/complete: no ref")
	}
	args, ok := completions[*req.Params.Ref]
	if !ok {
		return nil, fmt.Errorf("completion/complete: nothing to complete for %s %s%s", req.Params.Ref.Type, req.Params.Ref.Name, req.Params.Ref.URI)
	}
	values := []string{}
	for _, v := range args[req.Params.Argument.Name] {
		if strings.HasPrefix(v, req.Params.Argument.Value) {
			values = append(values, v)
		}
	}
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: values, Total: len(values)}}, nil
}
