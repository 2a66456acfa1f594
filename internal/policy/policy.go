// Package policy is toolgate's Cedar engine: it loads policies, indexes them
// by the actions and principals they can apply to, builds Cedar entities from
// a call (the entity model of docs/design.md) and decides a call across layers of
// policy sets, failing closed where Cedar would skip an erroring policy.
package policy

import (
	"fmt"
	"strconv"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// Annotations toolgate gives meaning to.
const (
	AnnotationID       = "id"
	AnnotationReason   = "reason"
	AnnotationApproval = "approval"
)

// Policy is one compiled Cedar policy with what toolgate needs to know about
// it without evaluating it.
type Policy struct {
	ID       string
	Forbid   bool
	Reason   string // @reason: what an agent reads when this policy denies
	Approval string // @approval: a human may allow what this forbid denies
	File     string
	Line     int
	Column   int
	cedar    *cedar.Policy

	principal scopeMatch
	resource  scopeMatch
	// actionEq/actionIn are the action entities the action scope names;
	// actionAll is true for an unconstrained action scope.
	actionAll bool
	actionEq  []types.EntityUID
	actionIn  []types.EntityUID
}

// Location is "file:line:col" for messages.
func (p *Policy) Location() string {
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
}

// Cedar returns the compiled cedar-go policy.
func (p *Policy) Cedar() *cedar.Policy { return p.cedar }

// scopeMatch is a principal or resource scope in a form that can be checked
// against a request without evaluating the policy. It mirrors Cedar's scope
// semantics exactly for the entity graph toolgate builds, so skipping a
// policy it rejects never changes a decision.
type scopeMatch struct {
	all    bool
	eq     *types.EntityUID // principal == X
	in     *types.EntityUID // principal in X
	isType types.EntityType // principal is T (with in: is T in X)
}

func (s scopeMatch) matches(uid types.EntityUID, ancestors []types.EntityUID) bool {
	if s.all {
		return true
	}
	if s.eq != nil {
		return *s.eq == uid
	}
	if s.isType != "" && uid.Type != s.isType {
		return false
	}
	if s.in != nil {
		if *s.in == uid {
			return true
		}
		for _, a := range ancestors {
			if a == *s.in {
				return true
			}
		}
		return false
	}
	return true
}

func toScope(n xast.IsScopeNode) (scopeMatch, error) {
	switch s := n.(type) {
	case xast.ScopeTypeAll:
		return scopeMatch{all: true}, nil
	case xast.ScopeTypeEq:
		e := s.Entity
		return scopeMatch{eq: &e}, nil
	case xast.ScopeTypeIn:
		e := s.Entity
		return scopeMatch{in: &e}, nil
	case xast.ScopeTypeIs:
		return scopeMatch{isType: s.Type}, nil
	case xast.ScopeTypeIsIn:
		e := s.Entity
		return scopeMatch{isType: s.Type, in: &e}, nil
	default:
		return scopeMatch{}, fmt.Errorf("unsupported scope %T (templates are not supported)", n)
	}
}

// compile wraps a parsed cedar-go policy. file/line locate it for messages.
func compile(cp *cedar.Policy, defaultID string) (*Policy, error) {
	a := (*xast.Policy)(cp.AST())
	pos := cp.Position()
	p := &Policy{
		ID:     defaultID,
		Forbid: cp.Effect() == cedar.Forbid,
		File:   pos.Filename,
		Line:   pos.Line,
		Column: pos.Column,
		cedar:  cp,
	}
	for k, v := range cp.Annotations() {
		switch string(k) {
		case AnnotationID:
			if v == "" {
				return nil, fmt.Errorf("@id must not be empty")
			}
			p.ID = string(v)
		case AnnotationReason:
			p.Reason = string(v)
		case AnnotationApproval:
			if !p.Forbid {
				return nil, fmt.Errorf("@approval only applies to forbid policies: it turns what the forbid denies into a request for approval")
			}
			if v == "" {
				return nil, fmt.Errorf("@approval needs a text that tells the approver what to check")
			}
			p.Approval = string(v)
		}
	}
	if err := checkLiterals(a); err != nil {
		return nil, err
	}
	var err error
	if p.principal, err = toScope(a.Principal); err != nil {
		return nil, err
	}
	if p.resource, err = toScope(a.Resource); err != nil {
		return nil, err
	}
	switch s := a.Action.(type) {
	case xast.ScopeTypeAll:
		p.actionAll = true
	case xast.ScopeTypeEq:
		p.actionEq = []types.EntityUID{s.Entity}
	case xast.ScopeTypeIn:
		p.actionIn = []types.EntityUID{s.Entity}
	case xast.ScopeTypeInSet:
		p.actionIn = append([]types.EntityUID(nil), s.Entities...)
	default:
		return nil, fmt.Errorf("unsupported action scope %T", a.Action)
	}
	return p, nil
}

// checkLiterals finds extension literals that can never evaluate, such as
// decimal("10000") (Cedar decimals need a point). Such a policy errors on
// every request: a forbid would deny everything it scopes, a permit would
// never apply; either way it is a mistake worth reporting at load time.
func checkLiterals(a *xast.Policy) error {
	var bad error
	for _, cond := range a.Conditions {
		xast.Inspect(xast.NewNode(cond.Body), func(n xast.IsNode) bool {
			ext, ok := n.(xast.NodeTypeExtensionCall)
			if !ok || len(ext.Args) != 1 || bad != nil {
				return bad == nil
			}
			lit, ok := ext.Args[0].(xast.NodeValue)
			if !ok {
				return true
			}
			s, ok := lit.Value.(types.String)
			if !ok {
				return true
			}
			var err error
			switch ext.Name {
			case "decimal":
				_, err = types.ParseDecimal(string(s))
			case "datetime":
				_, err = types.ParseDatetime(string(s))
			case "duration":
				_, err = types.ParseDuration(string(s))
			case "ip":
				_, err = types.ParseIPAddr(string(s))
			}
			if err != nil {
				bad = fmt.Errorf("%s(%q) can never be evaluated: %v", ext.Name, string(s), err)
			}
			return true
		})
	}
	return bad
}
