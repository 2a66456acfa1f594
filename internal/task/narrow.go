package task

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// A delegated scope may only narrow its parent's. Excess finds what a child
// scope asks for beyond its parent's; delegation refuses a child with any.
//
// Tool rules are compared exactly: each child rule needs a parent rule whose
// tool pattern covers it and whose every constraint the child's constraints
// imply (same argument; equals/in values inside the parent's set or range,
// a longer prefix, a deeper "under", a tighter min/max).
//
// Cedar policies are compared by the actions their permits name (`action`,
// `action == …`, `action in …`); their conditions are not compared. That is
// safe: every layer of the chain is still evaluated on every call, so a
// child's permission is the intersection of all of them whatever its Cedar
// says. A parent rule with argument constraints cannot be shown to be kept by
// a child's Cedar policy, so that is reported as excess.

// grant is one thing a scope allows, as far as the narrowing check can see.
type grant struct {
	// pattern is "*", "server/*", "server/tool", or for Cedar `action in
	// Action::"g"` (g without "/"), "group:g".
	pattern string
	where   map[string]Constraint
	// cedar marks grants from Cedar policies: their conditions are unknown.
	cedar bool
	desc  string
}

func grants(s *Scope) ([]grant, error) {
	var out []grant
	for i, r := range s.Tools {
		out = append(out, grant{pattern: r.Tool, where: r.Where, desc: fmt.Sprintf("tools[%d] %s", i, describeRule(r))})
	}
	if strings.TrimSpace(s.Cedar) == "" {
		return out, nil
	}
	list, err := cedar.NewPolicyListFromBytes("scope", []byte(s.Cedar))
	if err != nil {
		return nil, fmt.Errorf("scope: cedar: %v", err)
	}
	for _, p := range list {
		if p.Effect() != cedar.Permit {
			continue // a forbid only narrows
		}
		a := (*xast.Policy)(p.AST())
		line := p.Position().Line
		add := func(pattern string) {
			out = append(out, grant{pattern: pattern, cedar: true, desc: fmt.Sprintf("the cedar permit at line %d (%s)", line, describePattern(pattern))})
		}
		switch sc := a.Action.(type) {
		case xast.ScopeTypeAll:
			add("*")
		case xast.ScopeTypeEq:
			add(actionPattern(sc.Entity, false))
		case xast.ScopeTypeIn:
			add(actionPattern(sc.Entity, true))
		case xast.ScopeTypeInSet:
			for _, e := range sc.Entities {
				add(actionPattern(e, true))
			}
		default:
			return nil, fmt.Errorf("scope: cedar: unsupported action scope at line %d", line)
		}
	}
	return out, nil
}

func actionPattern(e types.EntityUID, in bool) string {
	id := string(e.ID)
	switch {
	case e.Type != "Action":
		return "group:" + string(e.Type) + "::" + id // matches no call
	case id == "CallTool" && in:
		return "*"
	case strings.Contains(id, "/"):
		return id // a tool: `in` includes the entity itself
	case in:
		return "group:" + id
	default:
		return "group:" + id // == a group entity: no call has it as action
	}
}

func describePattern(p string) string {
	switch {
	case p == "*":
		return "every tool"
	case strings.HasPrefix(p, "group:"):
		return "Action::\"" + strings.TrimPrefix(p, "group:") + "\""
	default:
		return p
	}
}

func describeRule(r ToolRule) string {
	if len(r.Where) == 0 {
		return r.Tool
	}
	names := make([]string, 0, len(r.Where))
	for n := range r.Where {
		names = append(names, n)
	}
	slices.Sort(names)
	return r.Tool + " where " + strings.Join(names, ", ")
}

// Excess returns, in words, each part of child that parent does not allow;
// none means child is within parent.
func Excess(parent, child *Scope) ([]string, error) {
	pg, err := grants(parent)
	if err != nil {
		return nil, fmt.Errorf("parent %v", err)
	}
	cg, err := grants(child)
	if err != nil {
		return nil, err
	}
	var excess []string
	for _, c := range cg {
		why := ""
		covered := false
		for _, p := range pg {
			if !patternCovers(p.pattern, c.pattern) {
				continue
			}
			if p.cedar || len(p.where) == 0 {
				covered = true
				break
			}
			if c.cedar {
				why = fmt.Sprintf("; the parent allows it only with constraints on %s, which a cedar scope cannot be shown to keep (write it as a tool rule)", strings.Join(sortedKeys(p.where), ", "))
				continue
			}
			if missing := unimplied(p.where, c.where); missing != "" {
				why = "; " + missing
				continue
			}
			covered = true
			break
		}
		if !covered {
			excess = append(excess, c.desc+" is not within the parent's scope"+why)
		}
	}
	return excess, nil
}

func sortedKeys(m map[string]Constraint) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// patternCovers tells whether every call matching child also matches parent.
func patternCovers(parent, child string) bool {
	if parent == "*" {
		return true
	}
	if parent == child {
		return true
	}
	ps, pAll := strings.CutSuffix(parent, "/*")
	pg, pGroup := strings.CutPrefix(parent, "group:")
	switch {
	case pAll:
		pg = ps
	case pGroup:
	default:
		return false // a single tool covers only itself
	}
	// A server (or group) covers its tools, its "server/*" and its group.
	if cs, ok := strings.CutSuffix(child, "/*"); ok {
		return cs == pg
	}
	if cg, ok := strings.CutPrefix(child, "group:"); ok {
		return cg == pg
	}
	server, _, _ := strings.Cut(child, "/")
	return server == pg
}

// unimplied returns what of the parent's constraints the child's do not
// imply ("" when all are).
func unimplied(parent, child map[string]Constraint) string {
	for _, name := range sortedKeys(parent) {
		pc := parent[name]
		cc, ok := child[name]
		if !ok {
			return fmt.Sprintf("the parent constrains argument %q and the child does not", name)
		}
		if op := pc.notImpliedBy(cc); op != "" {
			return fmt.Sprintf("argument %q: the child's constraint does not keep the parent's %s", name, op)
		}
	}
	return ""
}

// notImpliedBy names the first operator of c that cc does not imply.
func (c Constraint) notImpliedBy(cc Constraint) string {
	vals := cc.values() // the finite set cc allows, if it is one
	if c.Equals != nil {
		pv, _ := literal(c.Equals)
		if vals == nil || !all(vals, func(v value) bool { return v == pv }) {
			return "equals " + string(c.Equals)
		}
	}
	if c.In != nil {
		ps := make([]value, len(c.In))
		for i, raw := range c.In {
			ps[i], _ = literal(raw)
		}
		if vals == nil || !all(vals, func(v value) bool { return slices.Contains(ps, v) }) {
			return "in"
		}
	}
	if c.Prefix != nil {
		p := *c.Prefix
		ok := (cc.Prefix != nil && strings.HasPrefix(*cc.Prefix, p)) ||
			(cc.Under != nil && strings.HasPrefix(*cc.Under, p)) ||
			(vals != nil && all(vals, func(v value) bool { return v.kind == 's' && strings.HasPrefix(v.s, p) }))
		if !ok {
			return fmt.Sprintf("prefix %q", p)
		}
	}
	if c.Under != nil {
		u := *c.Under
		ok := (cc.Under != nil && underLexical(*cc.Under, u)) ||
			(vals != nil && all(vals, func(v value) bool { return v.kind == 's' && underLexical(v.s, u) }))
		if !ok {
			return fmt.Sprintf("under %q", u)
		}
	}
	if c.Min != nil {
		m := *c.Min
		ok := (cc.Min != nil && *cc.Min >= m) ||
			(vals != nil && all(vals, func(v value) bool { return v.kind == 'i' && v.i >= m }))
		if !ok {
			return fmt.Sprintf("min %d", m)
		}
	}
	if c.Max != nil {
		m := *c.Max
		ok := (cc.Max != nil && *cc.Max <= m) ||
			(vals != nil && all(vals, func(v value) bool { return v.kind == 'i' && v.i <= m }))
		if !ok {
			return fmt.Sprintf("max %d", m)
		}
	}
	return ""
}

// values is the finite set of values a constraint allows (equals, or in,
// or both: their intersection is within either), or nil.
func (c Constraint) values() []value {
	if c.Equals != nil {
		v, _ := literal(c.Equals)
		return []value{v}
	}
	if c.In != nil {
		out := make([]value, len(c.In))
		for i, raw := range c.In {
			out[i], _ = literal(raw)
		}
		return out
	}
	return nil
}

func all(vs []value, f func(value) bool) bool {
	for _, v := range vs {
		if !f(v) {
			return false
		}
	}
	return true
}

// underLexical is exactly what the compiled "under" condition accepts: the
// path itself or one below it, with no ".." segment.
func underLexical(v, u string) bool {
	below := strings.TrimSuffix(u, "/") + "/"
	if v != u && !strings.HasPrefix(v, below) {
		return false
	}
	return !strings.Contains(v, "/../") && !strings.HasSuffix(v, "/..")
}
