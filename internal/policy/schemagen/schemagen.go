// Package schemagen writes the Cedar schema of a toolgate setup: the entity
// types toolgate builds (Agent, User, Group, Server, Approval), one action
// per tool of each server (from its tools/list) with the tool's arguments
// typed from its inputSchema, and the context every call carries (system,
// task, chain, facts, flow, windows). `toolgate policy validate --schema`
// then type-checks policies against the real tools, so a typo such as
// context.input.pth is an error before the policy is loaded.
package schemagen

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/facts"
	_ "github.com/toolgate/toolgate/internal/facts/all" // every classifier's facts
	"github.com/toolgate/toolgate/internal/policy"
)

// Tool is one tool of a server, as its tools/list describes it, with the
// operator's overrides applied (annotations) and added (labels).
type Tool struct {
	Name        string
	InputSchema json.RawMessage
	Annotations call.Annotations
	// Labels are the extra Action groups of the tool (tools.<t>.labels).
	Labels []string
	// Facts bind classifiers to arguments (tools.<t>.facts).
	Facts facts.Bindings
}

// Server is one server and its tools.
type Server struct {
	Name  string
	Tools []Tool
	// AutoFacts says the server binds classifiers to arguments by their
	// names (servers[].facts.auto) where a tool has no bindings.
	AutoFacts bool
}

// Input is what the schema is generated from.
type Input struct {
	Servers []Server
	// Windows are the declared time windows (context.windows.<name>) and
	// their Cedar types: "Long" (count, sum) or "Bool" (formerly,
	// previous).
	Windows map[string]string
}

// Type is a Cedar type of the schema.
type Type struct {
	// Kind is String, Long, Bool, decimal, datetime, Set, Record or Entity.
	Kind  string
	Elem  *Type           // Set
	Attrs map[string]Attr // Record
	Name  string          // Entity: its type
}

// Attr is a record attribute.
type Attr struct {
	Type     *Type
	Optional bool
}

func prim(kind string) *Type         { return &Type{Kind: kind} }
func setOf(t *Type) *Type            { return &Type{Kind: "Set", Elem: t} }
func record(a map[string]Attr) *Type { return &Type{Kind: "Record", Attrs: a} }
func req(t *Type) Attr               { return Attr{Type: t} }
func opt(t *Type) Attr               { return Attr{Type: t, Optional: true} }
func entity(name string) *Type       { return &Type{Kind: "Entity", Name: name} }
func stringSet() *Type               { return setOf(prim("String")) }

// Generate writes the schema in Cedar's schema syntax. Notes lists what it
// could not type (an argument whose inputSchema has no single type), so the
// caller can say so.
func Generate(in Input) (schema string, notes []string) {
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("\nentity Group;\n")
	b.WriteString("entity User in [Group] {\n  \"owner\"?: User,\n} tags String;\n")
	b.WriteString("entity Agent in [Group] {\n  \"owner\"?: User,\n} tags String;\n")
	b.WriteString("entity Server {\n  \"trust\": String,\n  \"labels\": Set<String>,\n};\n")
	b.WriteString("entity Approval in [Server] {\n")
	writeAttrs(&b, approvalAttrs().Attrs, "  ")
	b.WriteString("};\n\n")

	// Action groups: CallTool, the annotation groups, each server, labels.
	groups := []string{policy.ActionCallTool.ID.String(), policy.ActionReadOnly.ID.String(),
		policy.ActionDestructive.ID.String(), policy.ActionOpenWorld.ID.String()}
	for _, g := range groups {
		fmt.Fprintf(&b, "action %s;\n", quote(g))
	}
	var labels []string
	for _, s := range in.Servers {
		for _, t := range s.Tools {
			for _, l := range t.Labels {
				if !slices.Contains(labels, l) && !slices.Contains(groups, l) {
					labels = append(labels, l)
				}
			}
		}
	}
	sort.Strings(labels)
	for _, l := range labels {
		fmt.Fprintf(&b, "action %s;\n", quote(l))
	}
	servers := slices.Clone(in.Servers)
	sort.Slice(servers, func(i, j int) bool { return servers[i].Name < servers[j].Name })
	for _, s := range servers {
		fmt.Fprintf(&b, "action %s in [%s];\n", quote(s.Name), quote(policy.ActionCallTool.ID.String()))
	}
	b.WriteString("\n")
	b.WriteString("// Administrative actions: answering approvals, asking about another\n// principal's calls.\n")
	fmt.Fprintf(&b, "action %s appliesTo {\n  principal: [Agent, User],\n  resource: Approval,\n  context: ", quote(policy.ActionApprove.ID.String()))
	writeType(&b, approveContext(), "  ")
	b.WriteString(",\n};\n")
	fmt.Fprintf(&b, "action %s appliesTo {\n  principal: [Agent, User],\n  resource: [Agent, User],\n  context: ", quote(policy.ActionEvaluate.ID.String()))
	writeType(&b, record(map[string]Attr{"tool": req(prim("String")), "server": req(prim("String"))}), "  ")
	b.WriteString(",\n};\n")

	factShapes := classifierFacts()
	windows := map[string]Attr{}
	for name, kind := range in.Windows {
		windows[name] = req(prim(kind))
	}
	for _, s := range servers {
		tools := slices.Clone(s.Tools)
		sort.Slice(tools, func(i, j int) bool { return tools[i].Name < tools[j].Name })
		fmt.Fprintf(&b, "\n// Server %s\n", s.Name)
		for _, t := range tools {
			input, untyped := InputType(t.InputSchema)
			for _, u := range untyped {
				notes = append(notes, fmt.Sprintf("%s/%s: context.input.%s has no single type in the tool's inputSchema; it is not declared", s.Name, t.Name, u))
			}
			parents := []string{s.Name, policy.ActionCallTool.ID.String()}
			if t.Annotations.IsReadOnly() {
				parents = append(parents, policy.ActionReadOnly.ID.String())
			}
			if t.Annotations.IsDestructive() {
				parents = append(parents, policy.ActionDestructive.ID.String())
			}
			if t.Annotations.IsOpenWorld() {
				parents = append(parents, policy.ActionOpenWorld.ID.String())
			}
			for _, l := range t.Labels {
				if !slices.Contains(parents, l) {
					parents = append(parents, l)
				}
			}
			quoted := make([]string, len(parents))
			for i, p := range parents {
				quoted[i] = quote(p)
			}
			fmt.Fprintf(&b, "action %s in [%s] appliesTo {\n  principal: [Agent, User],\n  resource: Server,\n  context: ",
				quote(s.Name+"/"+t.Name), strings.Join(quoted, ", "))
			writeType(&b, CallContext(input, toolFacts(t, s.AutoFacts, input, factShapes), windows), "  ")
			b.WriteString(",\n};\n")
		}
	}
	return b.String(), notes
}

const header = `// The Cedar schema of this toolgate setup, generated by
// 'toolgate policy schema' from the configured servers' tools/list.
// Check policies against it: toolgate policy validate --schema FILE DIR
`

// CallContext is the context of a tool call whose arguments have type
// input and facts factsType: what every call of toolgate carries.
func CallContext(input *Type, factsType *Type, windows map[string]Attr) *Type {
	sources := map[string]Attr{}
	for name := range input.Attrs {
		// Every top-level argument has its (maybe empty) set of sources.
		sources[name] = req(setOf(record(map[string]Attr{
			"tool": req(prim("String")), "field": req(prim("String")), "label": req(prim("String")),
		})))
	}
	return record(map[string]Attr{
		"input":  req(input),
		"system": req(record(map[string]Attr{"now": req(prim("datetime"))})),
		"task": req(record(map[string]Attr{
			"id": req(prim("String")), "purpose": req(prim("String")), "depth": req(prim("Long")),
		})),
		"chain": req(stringSet()),
		"facts": req(factsType),
		"flow": req(record(map[string]Attr{
			"untrusted":     req(prim("Bool")),
			"private":       req(prim("Bool")),
			"tainted":       req(stringSet()),
			"tainted_links": req(stringSet()),
			"trusted":       req(stringSet()),
			"sources":       req(record(sources)),
		})),
		"windows": req(record(windows)),
	})
}

// toolFacts is context.facts of a tool: the classifiers its arguments are
// bound to. A classifier's facts are there when a bound argument is: they
// are required if one of its arguments is a required string, optional
// otherwise. With auto binding and no bindings of its own, any classifier
// may be there.
func toolFacts(t Tool, auto bool, input *Type, shapes map[string]*Type) *Type {
	out := map[string]Attr{}
	if len(t.Facts) == 0 {
		if auto {
			for name, shape := range shapes {
				out[name] = opt(shape)
			}
		}
		return record(out)
	}
	for name, paths := range t.Facts {
		shape, ok := shapes[name]
		if !ok {
			continue
		}
		required := false
		for _, p := range paths {
			if a, ok := input.Attrs[p]; ok && !a.Optional && a.Type.Kind == "String" {
				required = true
			}
		}
		out[name] = Attr{Type: shape, Optional: !required}
	}
	return record(out)
}

// classifierFacts are the facts of each classifier, by name: their names
// and types are taken from what the classifier answers.
func classifierFacts() map[string]*Type {
	out := map[string]*Type{}
	samples := []string{"", "x", "SELECT 1", "rm -rf /tmp/x", "https://example.com/a", "/etc/passwd", "../x", "%%%"}
	for _, name := range facts.Names() {
		c, err := facts.New(name, facts.Options{})
		if err != nil {
			continue
		}
		seen := map[string]*Type{}
		count := map[string]int{}
		for _, s := range samples {
			for k, v := range c.Classify(s) {
				if t := goType(v); t != nil {
					seen[k] = t
					count[k]++
				}
			}
		}
		attrs := map[string]Attr{}
		for k, t := range seen {
			attrs[k] = Attr{Type: t, Optional: count[k] < len(samples)}
		}
		out[name] = record(attrs)
	}
	return out
}

func goType(v any) *Type {
	switch v.(type) {
	case string:
		return prim("String")
	case bool:
		return prim("Bool")
	case int, int64:
		return prim("Long")
	case []string:
		return stringSet()
	}
	return nil
}

func approveContext() *Type {
	return record(map[string]Attr{
		"decision": req(prim("String")),
		"similar":  req(prim("Bool")),
		"channel":  req(prim("String")),
		"comment":  req(prim("String")),
		"system":   req(record(map[string]Attr{"now": req(prim("datetime"))})),
	})
}

// approvalAttrs are the attributes of Approval::"<id>". Its input is not
// typed (an approval may be about any tool); caller (an Agent or a User)
// and action (an Action) are left out: a schema attribute has one entity
// type, and actions are not entity types.
func approvalAttrs() *Type {
	return record(map[string]Attr{
		"tool": req(prim("String")),
		"task": req(record(map[string]Attr{
			"id": req(prim("String")), "purpose": req(prim("String")), "depth": req(prim("Long")),
		})),
		"chain":       req(stringSet()),
		"policies":    req(stringSet()),
		"reasons":     req(stringSet()),
		"input":       req(record(map[string]Attr{})),
		"args_sha256": req(prim("String")),
		"created":     req(prim("datetime")),
		"expires":     req(prim("datetime")),
		"owner":       opt(entity("User")),
	})
}

// InputType is the Cedar type of context.input for a tool's inputSchema:
// an object's properties as a record (required ones required), strings,
// integers (Long), numbers (decimal), booleans, arrays as sets. untyped
// names the arguments whose schema gives no single type; they are left
// out.
func InputType(schema json.RawMessage) (t *Type, untyped []string) {
	var doc any
	if len(schema) == 0 || json.Unmarshal(schema, &doc) != nil {
		return record(map[string]Attr{}), nil
	}
	m, _ := doc.(map[string]any)
	t = objectType(m, "", &untyped, 0)
	if t == nil {
		t = record(map[string]Attr{})
	}
	sort.Strings(untyped)
	return t, untyped
}

const maxDepth = 32

func objectType(m map[string]any, path string, untyped *[]string, depth int) *Type {
	props, _ := m["properties"].(map[string]any)
	attrs := map[string]Attr{}
	required := map[string]bool{}
	if rs, ok := m["required"].([]any); ok {
		for _, r := range rs {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	for name, p := range props {
		pm, _ := p.(map[string]any)
		t := jsonType(pm, join(path, name), untyped, depth+1)
		if t == nil {
			*untyped = append(*untyped, join(path, name))
			continue
		}
		attrs[name] = Attr{Type: t, Optional: !required[name]}
	}
	return record(attrs)
}

func jsonType(m map[string]any, path string, untyped *[]string, depth int) *Type {
	if m == nil || depth > maxDepth {
		return nil
	}
	var kind string
	switch t := m["type"].(type) {
	case string:
		kind = t
	case []any:
		for _, n := range t {
			if s, ok := n.(string); ok && s != "null" {
				if kind != "" {
					return nil // several types: no single Cedar type
				}
				kind = s
			}
		}
	}
	if kind == "" {
		if _, ok := m["properties"]; ok {
			kind = "object"
		} else if _, ok := m["enum"]; ok && allStrings(m["enum"]) {
			kind = "string"
		}
	}
	switch kind {
	case "string":
		return prim("String")
	case "integer":
		return prim("Long")
	case "number":
		return prim("decimal")
	case "boolean":
		return prim("Bool")
	case "object":
		return objectType(m, path, untyped, depth)
	case "array":
		items, _ := m["items"].(map[string]any)
		if e := jsonType(items, path+"[]", untyped, depth+1); e != nil {
			return setOf(e)
		}
	}
	return nil
}

func allStrings(v any) bool {
	vs, ok := v.([]any)
	if !ok || len(vs) == 0 {
		return false
	}
	for _, x := range vs {
		if _, ok := x.(string); !ok {
			return false
		}
	}
	return true
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func writeType(b *strings.Builder, t *Type, indent string) {
	switch t.Kind {
	case "Set":
		b.WriteString("Set<")
		writeType(b, t.Elem, indent)
		b.WriteString(">")
	case "Record":
		if len(t.Attrs) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		writeAttrs(b, t.Attrs, indent+"  ")
		b.WriteString(indent + "}")
	case "Entity":
		b.WriteString(t.Name)
	default:
		b.WriteString(t.Kind)
	}
}

func writeAttrs(b *strings.Builder, attrs map[string]Attr, indent string) {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := attrs[n]
		b.WriteString(indent + quote(n))
		if a.Optional {
			b.WriteString("?")
		}
		b.WriteString(": ")
		writeType(b, a.Type, indent)
		b.WriteString(",\n")
	}
}

// quote writes a Cedar string literal: tool and argument names come from
// servers, so every byte that could end the literal is escaped.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u{%x}`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
