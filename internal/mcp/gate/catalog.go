package gate

import (
	"context"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/enforce"
)

// Catalog returns the pipeline's describe stage for this server: the tool's
// annotations and input schema come from the definition the server listed
// (and that matches its pin), then inner (the configured catalog: trust,
// labels, the operator's annotation overrides) adds its part.
//
// Because the check runs inside the pipeline, a call to an unknown or
// changed tool is denied like any other: with a reason, in the audit trail.
// inner may be nil (no configured servers); the input schema is then
// compiled here, once per tool definition.
func (t *Tools) Catalog(inner enforce.Catalog) enforce.Catalog {
	return &guard{tools: t, inner: inner}
}

type guard struct {
	tools *Tools
	inner enforce.Catalog
}

func (g *guard) Describe(ctx context.Context, c *call.Call) (*cedarjson.Shape, error) {
	if c.Server.Name != g.tools.server {
		return nil, enforce.Errorf("server.unknown", "this proxy fronts server %q, not %q", g.tools.server, c.Server.Name)
	}
	if c.Tool.Name == "" {
		// Content that no tool stands for (a resource, a prompt): the
		// server is described, no tool.
		if g.inner != nil {
			return g.inner.Describe(ctx, c)
		}
		return nil, nil
	}
	tool, err := g.tools.Lookup(c.Tool.Name)
	if err != nil {
		return nil, err
	}
	// What the caller said about the tool does not count; the pinned
	// definition does.
	c.Tool.Annotations = tool.Annotations
	c.Tool.InputSchema = tool.InputSchema
	if g.inner != nil {
		return g.inner.Describe(ctx, c)
	}
	return tool.Shape()
}
