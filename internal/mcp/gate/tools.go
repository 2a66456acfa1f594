package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"log/slog"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/pin"
)

// Tool is one tool as the server lists it now.
type Tool struct {
	Name string
	// Raw is the tool's JSON object exactly as the server sent it.
	Raw json.RawMessage
	// Annotations are the server's hints (config overrides come on top, in
	// the catalog); a hint of the wrong type counts as not stated, which
	// takes the stricter MCP default.
	Annotations     call.Annotations
	InputSchema     json.RawMessage
	HasOutputSchema bool
	Def             pin.Definition

	// The input schema compiled once (Shape); a Tool does not change
	// after it is read.
	shapeOnce sync.Once
	shape     *cedarjson.Shape
	shapeErr  error
}

// Shape is the tool's input schema compiled for the policy engine (nil
// without a schema), compiled at the first call and kept: the schema is
// part of the tool's pinned definition, so a new definition is a new Tool.
func (t *Tool) Shape() (*cedarjson.Shape, error) {
	t.shapeOnce.Do(func() {
		if len(t.InputSchema) > 0 {
			t.shape, t.shapeErr = cedarjson.CompileSchema(t.InputSchema)
		}
	})
	return t.shape, t.shapeErr
}

// ParseTool reads one entry of a tools/list result.
func ParseTool(raw json.RawMessage) (*Tool, error) {
	def, err := pin.Define(raw)
	if err != nil {
		return nil, err
	}
	var f map[string]json.RawMessage
	_ = json.Unmarshal(raw, &f) // pin.Define checked it is an object
	t := &Tool{Name: def.Name, Raw: raw, Def: def}
	if s, ok := f["inputSchema"]; ok && string(s) != "null" {
		t.InputSchema = s
	}
	if s, ok := f["outputSchema"]; ok && string(s) != "null" {
		t.HasOutputSchema = true
	}
	var ann map[string]json.RawMessage
	if json.Unmarshal(f["annotations"], &ann) == nil {
		hint := func(name string) *bool {
			var b bool
			if json.Unmarshal(ann[name], &b) != nil {
				return nil
			}
			return &b
		}
		t.Annotations = call.Annotations{
			ReadOnly:    hint("readOnlyHint"),
			Destructive: hint("destructiveHint"),
			Idempotent:  hint("idempotentHint"),
			OpenWorld:   hint("openWorldHint"),
		}
	}
	return t, nil
}

// ListFunc fetches one page of the server's tools/list (cursor "" for the
// first) and returns the result object.
type ListFunc func(ctx context.Context, cursor string) (json.RawMessage, error)

// maxPages bounds a refresh, against a server whose cursors never end.
const maxPages = 1000

type entry struct {
	tool   *Tool
	status pin.Status
	pinned pin.Pin // the accepted definition
	err    error   // the pin store failed: nothing about the tool is trusted
}

// Tools is what toolgate knows of one server's tools: the definitions the
// server listed last, each checked against its pin. It is filled from the
// tools/list results that pass through the proxy and, when those are not
// enough, by listing the tools itself (Refresh).
type Tools struct {
	server string
	pins   *pin.Store // nil: no pinning
	mode   string
	log    *slog.Logger

	mu     sync.Mutex
	byName map[string]*entry
	// gen counts notifications/tools/list_changed; the list is fresh when a
	// complete list was read at the current generation.
	gen        uint64
	listed     bool
	listedGen  uint64
	refreshErr error
	refreshing chan struct{}
	warned     map[string]string // tool → digest already warned about
}

// NewTools starts with no tools. pins may be nil only where pinning is not
// wanted (library use, tests); mode is mcp.PinRefuse or mcp.PinWarn.
func NewTools(server string, pins *pin.Store, mode string, log *slog.Logger) *Tools {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if mode == "" {
		mode = mcp.PinRefuse
	}
	log = log.With("server", server)
	return &Tools{server: server, pins: pins, mode: mode, log: log, byName: map[string]*entry{}, warned: map[string]string{}}
}

// Server is the server's name.
func (t *Tools) Server() string { return t.server }

// Generation is the count of list changes so far; pass it back to Observe
// with the listing that was requested at that time.
func (t *Tools) Generation() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen
}

// ListChanged records notifications/tools/list_changed: what is known may be
// stale, and the next call makes toolgate list the tools again.
func (t *Tools) ListChanged() {
	t.mu.Lock()
	t.gen++
	t.mu.Unlock()
}

func (t *Tools) fresh() bool { return t.listed && t.listedGen == t.gen }

// Observe takes in tools listed by the server and checks each against its
// pin. complete says the list is the whole of it (no cursor asked, none
// returned); gen is Generation() from when the list was asked for. It
// returns the tools that could be read, in order; entries that are not
// valid tools are dropped (and so hidden).
func (t *Tools) Observe(raw []json.RawMessage, complete bool, gen uint64) []*Tool {
	tools := make([]*Tool, 0, len(raw))
	defs := make([]pin.Definition, 0, len(raw))
	seen := map[string]bool{}
	for _, r := range raw {
		tool, err := ParseTool(r)
		if err != nil {
			t.log.Warn("hiding an invalid tool listed by the server", "error", err)
			continue
		}
		if seen[tool.Name] {
			// Two definitions under one name: which one would the client
			// show? Trust neither.
			t.log.Warn("hiding a tool the server lists twice", "tool", tool.Name)
			continue
		}
		seen[tool.Name] = true
		tools = append(tools, tool)
		defs = append(defs, tool.Def)
	}
	var results map[string]pin.Result
	var pinErr error
	if t.pins != nil {
		results, pinErr = t.pins.Check(defs)
		if pinErr != nil {
			t.log.Error("cannot check tool pins; the server's tools are hidden and calls to them denied", "error", pinErr)
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	next := t.byName
	replace := complete && gen == t.gen
	if replace {
		next = make(map[string]*entry, len(tools))
	}
	for _, tool := range tools {
		e := &entry{tool: tool, status: pin.Same}
		switch {
		case pinErr != nil:
			e.err = pinErr
		case t.pins != nil:
			r := results[tool.Name]
			e.status, e.pinned = r.Status, r.Pinned
			if r.Status == pin.New {
				t.log.Info("pinned a new tool definition", "tool", tool.Name, "sha256", tool.Def.Digest)
			}
			if r.Status == pin.Changed {
				t.logChange(tool, r.Pinned)
			}
		}
		next[tool.Name] = e
	}
	t.byName = next
	if replace {
		t.listed, t.listedGen, t.refreshErr = true, gen, nil
	}
	return tools
}

// logChange reports a changed definition once per new digest.
func (t *Tools) logChange(tool *Tool, pinned pin.Pin) {
	if t.warned[tool.Name] == tool.Def.Digest {
		return
	}
	t.warned[tool.Name] = tool.Def.Digest
	fields := pin.ChangedFields(pinned.Definition, tool.Def.Canonical)
	if t.mode == mcp.PinWarn {
		t.log.Warn("tool definition changed since it was pinned; letting it through (mcp.pinning: warn)",
			"tool", tool.Name, "changed", fields, "pinned", pinned.Time.Format(time.RFC3339))
		return
	}
	t.log.Warn("tool definition changed since it was pinned; the tool is hidden and calls to it are denied until accepted",
		"tool", tool.Name, "changed", fields, "pinned", pinned.Time.Format(time.RFC3339),
		"accept", fmt.Sprintf("toolgate pin accept %s %s", t.server, tool.Name))
}

// Lookup returns the tool a call names, or the reason it must be denied:
// the tool list could not be read, the server does not list the tool, its
// pin cannot be checked, or (mode refuse) its definition changed.
func (t *Tools) Lookup(name string) (*Tool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.fresh() && t.refreshErr != nil {
		return nil, enforce.Errorf("tools.unavailable", "toolgate could not read the server's current tool list, so it cannot check this call: %v", t.refreshErr)
	}
	e := t.byName[name]
	if e == nil {
		return nil, enforce.Errorf("tool.unknown", "server %q does not list a tool named %q", t.server, name)
	}
	if e.err != nil {
		return nil, enforce.Errorf("pin.unavailable", "the pinned definition of tool %q cannot be checked: %v", name, e.err)
	}
	if e.status == pin.Changed {
		// Accepted meanwhile by `toolgate pin accept` in another process?
		if p, ok, err := t.pins.Pinned(name); err == nil && ok && p.Digest == e.tool.Def.Digest {
			e.status, e.pinned = pin.Same, p
			t.log.Info("changed tool definition was accepted", "tool", name)
		} else if t.mode != mcp.PinWarn {
			fields := pin.ChangedFields(e.pinned.Definition, e.tool.Def.Canonical)
			return nil, enforce.Errorf("pin.changed",
				"the definition of tool %q changed since it was pinned on %s (changed: %v); toolgate refuses it until an operator accepts the change with `toolgate pin accept %s %s`",
				name, e.pinned.Time.Format("2006-01-02"), fields, t.server, name)
		}
	}
	return e.tool, nil
}

// Peek returns a tool as listed, without any check (for shaping answers).
func (t *Tools) Peek(name string) *Tool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byName[name]; e != nil {
		return e.tool
	}
	return nil
}

// EnsureFresh lists the server's tools if what is known is not current (no
// complete list yet, or the server said the list changed). Concurrent
// callers share one refresh. A failure is remembered, and Lookup denies
// calls until a later refresh succeeds.
func (t *Tools) EnsureFresh(ctx context.Context, list ListFunc) error {
	t.mu.Lock()
	if t.fresh() {
		t.mu.Unlock()
		return nil
	}
	if ch := t.refreshing; ch != nil {
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		t.mu.Lock()
		fresh, err := t.fresh(), t.refreshErr
		t.mu.Unlock()
		if !fresh && err == nil {
			// The call that was listing ended before the list came (its
			// client cancelled it): list for this call instead of judging
			// it against a list nobody read.
			return t.EnsureFresh(ctx, list)
		}
		return err
	}
	ch := make(chan struct{})
	t.refreshing = ch
	gen := t.gen
	t.mu.Unlock()

	err := t.refresh(ctx, list, gen)

	t.mu.Lock()
	t.refreshing = nil
	if err != nil && ctx.Err() == nil {
		t.refreshErr = err
	}
	t.mu.Unlock()
	close(ch)
	return err
}

func (t *Tools) refresh(ctx context.Context, list ListFunc, gen uint64) error {
	var all []json.RawMessage
	cursor := ""
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page == maxPages {
			return fmt.Errorf("the tool list has more than %d pages", maxPages)
		}
		res, err := list(ctx, cursor)
		if err != nil {
			return err
		}
		tools, next, err := splitList(res)
		if err != nil {
			return err
		}
		all = append(all, tools...)
		if next == "" {
			break
		}
		if seen[next] {
			return errors.New("the server's tools/list cursors go round in a circle")
		}
		seen[next] = true
		cursor = next
	}
	t.Observe(all, true, gen)
	return nil
}

// splitList reads a tools/list result: its tools and its nextCursor.
func splitList(result json.RawMessage) (tools []json.RawMessage, next string, err error) {
	var res map[string]json.RawMessage
	if err := json.Unmarshal(result, &res); err != nil || res == nil {
		return nil, "", errors.New("the tools/list result is not an object")
	}
	if err := json.Unmarshal(res["tools"], &tools); err != nil || tools == nil {
		return nil, "", errors.New(`the tools/list result has no "tools" array`)
	}
	if c, ok := res["nextCursor"]; ok && string(c) != "null" {
		if err := json.Unmarshal(c, &next); err != nil {
			return nil, "", errors.New(`the tools/list result's "nextCursor" is not a string`)
		}
	}
	return tools, next, nil
}
