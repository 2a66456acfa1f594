package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/toolgate/toolgate/internal/policy"
)

// Scope is what a task may do: a list of tools with optional constraints on
// their arguments, or Cedar policies, or both (a call is in scope if any
// rule or policy permits it). Tool lists compile to Cedar (Compile), so both
// forms are one mechanism: one more policy layer.
//
//	{"tools": ["fs/read_file",
//	           "git/*",
//	           {"tool": "fs/search_files", "where": {"path": {"under": "/workspace"}}},
//	           {"tool": "db/query", "where": {"database": {"in": ["analytics", "reports"]},
//	                                          "limit": {"max": 100}}}],
//	 "cedar": "permit(principal, action == Action::\"web/fetch\", resource) when { … };"}
type Scope struct {
	Tools []ToolRule `json:"tools,omitempty"`
	Cedar string     `json:"cedar,omitempty"`
}

// ToolRule allows one tool ("server/tool"), every tool of a server
// ("server/*") or every tool ("*"), with every constraint in Where holding.
type ToolRule struct {
	Tool  string                `json:"tool"`
	Where map[string]Constraint `json:"where,omitempty"`
}

// UnmarshalJSON accepts a bare string for a rule without constraints.
func (r *ToolRule) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*r = ToolRule{Tool: s}
		return nil
	}
	type plain ToolRule
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("a tool rule is a string or {\"tool\": …, \"where\": {…}}: %v", err)
	}
	*r = ToolRule(p)
	return nil
}

// MarshalJSON writes a rule without constraints as a bare string.
func (r ToolRule) MarshalJSON() ([]byte, error) {
	if len(r.Where) == 0 {
		return json.Marshal(r.Tool)
	}
	type plain ToolRule
	return json.Marshal(plain(r))
}

// Constraint restricts one top-level argument. Every operator given must
// hold, and the argument must be present. Values of equals and in are
// strings, booleans or integers.
type Constraint struct {
	Equals json.RawMessage   `json:"equals,omitempty"`
	In     []json.RawMessage `json:"in,omitempty"`
	// Prefix: a string that starts with this.
	Prefix *string `json:"prefix,omitempty"`
	// Under: a path equal to this absolute path or below it, with no ".."
	// segment. It is a check on the text; policies that need the
	// filesystem's view (symlinks) use context.facts.path.
	Under *string `json:"under,omitempty"`
	// Min and Max bound an integer (inclusive).
	Min *int64 `json:"min,omitempty"`
	Max *int64 `json:"max,omitempty"`
}

// Limits of a scope, so a token carrying one stays small.
const (
	maxToolRules   = 256
	maxConstraints = 32
	maxInValues    = 256
	maxCedarBytes  = 64 << 10
	maxNameLen     = 128
)

var toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_.\-/]{1,128}$`)

// ParseScope decodes a scope strictly (unknown keys are errors) and
// validates it.
func ParseScope(b []byte) (Scope, error) {
	var s Scope
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Scope{}, fmt.Errorf("scope: %v", err)
	}
	if dec.More() {
		return Scope{}, errors.New("scope: trailing data after the JSON object")
	}
	return s, s.Validate()
}

// Validate checks a scope and normalises its paths.
func (s *Scope) Validate() error {
	if len(s.Tools) == 0 && strings.TrimSpace(s.Cedar) == "" {
		return errors.New("scope: empty; give tools or cedar (an empty scope would allow nothing)")
	}
	if len(s.Tools) > maxToolRules {
		return fmt.Errorf("scope: more than %d tool rules", maxToolRules)
	}
	if len(s.Cedar) > maxCedarBytes {
		return fmt.Errorf("scope: cedar is longer than %d bytes", maxCedarBytes)
	}
	for i := range s.Tools {
		r := &s.Tools[i]
		at := fmt.Sprintf("scope.tools[%d]", i)
		if err := checkPattern(r.Tool); err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
		if len(r.Where) > maxConstraints {
			return fmt.Errorf("%s: more than %d constraints", at, maxConstraints)
		}
		for name, c := range r.Where {
			if name == "" || len(name) > maxNameLen {
				return fmt.Errorf("%s.where: argument names are 1 to %d bytes", at, maxNameLen)
			}
			if err := c.validate(); err != nil {
				return fmt.Errorf("%s.where.%s: %v", at, name, err)
			}
			r.Where[name] = c
		}
	}
	return nil
}

func checkPattern(p string) error {
	if p == "*" {
		return nil
	}
	server, tool, ok := strings.Cut(p, "/")
	if !ok {
		return fmt.Errorf("tool %q is not \"server/tool\", \"server/*\" or \"*\"", p)
	}
	if err := policy.CheckServerName(server); err != nil {
		return fmt.Errorf("tool %q: %v", p, err)
	}
	if tool == "*" {
		return nil
	}
	if !toolNameRE.MatchString(tool) {
		return fmt.Errorf("tool %q: %q is not a valid tool name", p, tool)
	}
	if strings.Contains(tool, "*") {
		return fmt.Errorf("tool %q: only \"server/*\" and \"*\" are wildcards", p)
	}
	return nil
}

func (c *Constraint) validate() error {
	n := 0
	if c.Equals != nil {
		n++
		if _, err := literal(c.Equals); err != nil {
			return fmt.Errorf("equals: %v", err)
		}
	}
	if c.In != nil {
		n++
		if len(c.In) == 0 || len(c.In) > maxInValues {
			return fmt.Errorf("in: 1 to %d values", maxInValues)
		}
		for _, v := range c.In {
			if _, err := literal(v); err != nil {
				return fmt.Errorf("in: %v", err)
			}
		}
	}
	if c.Prefix != nil {
		n++
		if *c.Prefix == "" {
			return errors.New("prefix: empty (it would allow every string)")
		}
	}
	if c.Under != nil {
		n++
		u, err := cleanUnder(*c.Under)
		if err != nil {
			return err
		}
		c.Under = &u
	}
	if c.Min != nil {
		n++
	}
	if c.Max != nil {
		n++
	}
	if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
		return fmt.Errorf("min %d is more than max %d", *c.Min, *c.Max)
	}
	if n == 0 {
		return errors.New("no operator (equals, in, prefix, under, min, max)")
	}
	return nil
}

func cleanUnder(u string) (string, error) {
	if !strings.HasPrefix(u, "/") {
		return "", fmt.Errorf("under: %q is not an absolute path", u)
	}
	for _, seg := range strings.Split(u, "/") {
		if seg == ".." {
			return "", fmt.Errorf("under: %q has a \"..\" segment", u)
		}
	}
	return path.Clean(u), nil
}

// value is a constraint literal: a string, a boolean or an integer.
type value struct {
	kind byte // 's', 'b', 'i'
	s    string
	b    bool
	i    int64
}

func literal(raw json.RawMessage) (value, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return value{kind: 's', s: s}, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return value{kind: 'b', b: b}, nil
	}
	if i, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil {
		return value{kind: 'i', i: i}, nil
	}
	return value{}, fmt.Errorf("%s is not a string, boolean or integer", raw)
}

func (v value) cedar() string {
	switch v.kind {
	case 's':
		return cedarString(v.s, false)
	case 'b':
		return strconv.FormatBool(v.b)
	default:
		return strconv.FormatInt(v.i, 10)
	}
}

// cedarString quotes s as a Cedar string literal (pattern: as the literal
// of a `like`, where * is the wildcard and \* a star).
func cedarString(s string, pattern bool) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '*' && pattern:
			b.WriteString(`\*`)
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

// likePrefix is the `like` pattern of the strings that start with p.
func likePrefix(p string) string {
	q := cedarString(p, true)
	return q[:len(q)-1] + `*"`
}

// CedarText is the scope's tool rules written as Cedar policies: one permit
// per rule, its constraints as conditions. For example
//
//	{"tool": "fs/search_files", "where": {"path": {"under": "/workspace"}}}
//
// becomes
//
//	@id("tools[0] fs/search_files")
//	permit (principal, action == Action::"fs/search_files", resource)
//	when { context.input has "path" &&
//	       (context.input["path"] == "/workspace" || context.input["path"] like "/workspace/*") &&
//	       !(context.input["path"] like "*/../*") && !(context.input["path"] like "*/..") };
func (s *Scope) CedarText() string {
	var b strings.Builder
	for i, r := range s.Tools {
		fmt.Fprintf(&b, "@id(%s)\npermit (principal, %s, resource)", cedarString(fmt.Sprintf("tools[%d] %s", i, r.Tool), false), actionScope(r.Tool))
		if len(r.Where) > 0 {
			b.WriteString("\nwhen { ")
			names := make([]string, 0, len(r.Where))
			for n := range r.Where {
				names = append(names, n)
			}
			sort.Strings(names)
			for j, n := range names {
				if j > 0 {
					b.WriteString(" &&\n       ")
				}
				b.WriteString(r.Where[n].cedar(n))
			}
			b.WriteString(" }")
		}
		b.WriteString(";\n")
	}
	return b.String()
}

func actionScope(pattern string) string {
	switch {
	case pattern == "*":
		return `action in Action::"CallTool"`
	case strings.HasSuffix(pattern, "/*"):
		return "action in Action::" + cedarString(strings.TrimSuffix(pattern, "/*"), false)
	default:
		return "action == Action::" + cedarString(pattern, false)
	}
}

func (c Constraint) cedar(name string) string {
	x := "context.input[" + cedarString(name, false) + "]"
	parts := []string{"context.input has " + cedarString(name, false)}
	if c.Equals != nil {
		v, _ := literal(c.Equals)
		parts = append(parts, x+" == "+v.cedar())
	}
	if c.In != nil {
		vs := make([]string, len(c.In))
		for i, raw := range c.In {
			v, _ := literal(raw)
			vs[i] = v.cedar()
		}
		parts = append(parts, "["+strings.Join(vs, ", ")+"].contains("+x+")")
	}
	if c.Prefix != nil {
		parts = append(parts, x+" like "+likePrefix(*c.Prefix))
	}
	if c.Under != nil {
		u := *c.Under
		parts = append(parts,
			"("+x+" == "+cedarString(u, false)+" || "+x+" like "+likePrefix(strings.TrimSuffix(u, "/")+"/")+")",
			"!("+x+` like "*/../*")`,
			"!("+x+` like "*/..")`)
	}
	if c.Min != nil {
		parts = append(parts, x+" >= "+strconv.FormatInt(*c.Min, 10))
	}
	if c.Max != nil {
		parts = append(parts, x+" <= "+strconv.FormatInt(*c.Max, 10))
	}
	return strings.Join(parts, " && ")
}

// Compile builds the scope's policy layer: the tool rules as Cedar (above)
// and the Cedar policies as given. label names the sources in messages.
func (s *Scope) Compile(layer, label string) (*policy.Set, error) {
	var srcs []policy.Source
	if len(s.Tools) > 0 {
		srcs = append(srcs, policy.Source{Name: label + " tools", Text: []byte(s.CedarText())})
	}
	if strings.TrimSpace(s.Cedar) != "" {
		srcs = append(srcs, policy.Source{Name: label + " cedar", Text: []byte(s.Cedar)})
	}
	set, err := policy.NewSet(layer, srcs)
	if err != nil {
		return nil, fmt.Errorf("scope: %v", err)
	}
	return set, nil
}
