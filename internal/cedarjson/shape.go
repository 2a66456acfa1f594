package cedarjson

import (
	"encoding/json"
	"fmt"
)

// Shape is the part of a JSON Schema that decides number conversion: which
// numbers are integers (Long) and which are numbers (decimal), so that one
// field always has one Cedar type whatever value it holds. Everything else in
// the schema is ignored here; a nil *Shape means "no schema" and every method
// works on it.
type Shape struct {
	kind  numKind
	props map[string]*Shape
	extra *Shape // additionalProperties
	items *Shape
}

func (s *Shape) prop(name string) *Shape {
	if s == nil {
		return nil
	}
	if p, ok := s.props[name]; ok {
		return p
	}
	return s.extra
}

func (s *Shape) item() *Shape {
	if s == nil {
		return nil
	}
	return s.items
}

func (s *Shape) num() numKind {
	if s == nil {
		return numAuto
	}
	return s.kind
}

// maxSchemaDepth bounds recursion over a schema; deeper parts are treated as
// unknown, which only means numbers there convert by their value.
const maxSchemaDepth = 64

// CompileSchema extracts the Shape of a JSON Schema (an MCP tool's
// inputSchema). Constructs it does not follow ($ref, anyOf, …) leave the
// numbers under them to convert by value. It fails only on invalid JSON.
func CompileSchema(raw json.RawMessage) (*Shape, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("input schema: %w", err)
	}
	return compile(doc, 0), nil
}

func compile(doc any, depth int) *Shape {
	m, ok := doc.(map[string]any)
	if !ok || depth > maxSchemaDepth {
		return nil
	}
	s := &Shape{kind: schemaNumKind(m["type"])}
	if props, ok := m["properties"].(map[string]any); ok {
		// Declared properties are kept even without a shape of their own,
		// so that additionalProperties never applies to them.
		s.props = make(map[string]*Shape, len(props))
		for name, p := range props {
			s.props[name] = compile(p, depth+1)
		}
	}
	s.extra = compile(m["additionalProperties"], depth+1)
	s.items = compile(m["items"], depth+1)
	if s.kind == numAuto && s.extra == nil && s.items == nil && !anyShape(s.props) {
		return nil
	}
	return s
}

func anyShape(props map[string]*Shape) bool {
	for _, p := range props {
		if p != nil {
			return true
		}
	}
	return false
}

// schemaNumKind reads "type": "integer" | "number" | [..., "null"].
func schemaNumKind(t any) numKind {
	var names []string
	switch t := t.(type) {
	case string:
		names = []string{t}
	case []any:
		for _, n := range t {
			if s, ok := n.(string); ok && s != "null" {
				names = append(names, s)
			}
		}
	}
	hasInt, hasNum := false, false
	for _, n := range names {
		switch n {
		case "integer":
			hasInt = true
		case "number":
			hasNum = true
		}
	}
	switch {
	case hasNum:
		// "number" admits integers too; one type for the field means decimal.
		return numDecimal
	case hasInt:
		return numInteger
	}
	return numAuto
}
