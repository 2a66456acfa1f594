package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"iter"
	"slices"
	"sort"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

// Set is one layer of policies: immutable once built, indexed by the action
// entities the policies name, so that deciding a call evaluates only the
// policies that can apply to it.
type Set struct {
	// Name names the layer in decisions ("org", "task", …).
	Name string
	// Version is a content hash of the sources; it is part of every decision.
	Version  string
	policies []*Policy
	byID     map[string]*Policy

	anyAction []int32
	actionEq  map[types.EntityUID][]int32
	actionIn  map[types.EntityUID][]int32
}

// Source is one named policy document.
type Source struct {
	Name string // a file path, or a label for generated policies
	Text []byte
}

// NewSet parses and indexes sources into a layer. Every problem is reported,
// each with its location; the set is only built if there is none.
func NewSet(name string, sources []Source) (*Set, error) {
	var errs Errors
	var policies []*Policy
	byID := map[string]*Policy{}
	h := sha256.New()
	srcs := slices.Clone(sources)
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].Name < srcs[j].Name })
	for _, src := range srcs {
		h.Write([]byte(src.Name))
		h.Write([]byte{0})
		h.Write(src.Text)
		h.Write([]byte{0})
		list, err := cedar.NewPolicyListFromBytes(src.Name, src.Text)
		if err != nil {
			errs = append(errs, parseError(src.Name, src.Text, err))
			continue
		}
		for _, cp := range list {
			pos := cp.Position()
			p, err := compile(cp, defaultID(src.Name, pos.Line))
			if err != nil {
				errs = append(errs, &Error{Code: CodeInvalid, File: src.Name, Line: pos.Line, Column: pos.Column, Message: err.Error()})
				continue
			}
			if prev, dup := byID[p.ID]; dup {
				errs = append(errs, &Error{Code: CodeDuplicateID, File: src.Name, Line: pos.Line, Column: pos.Column,
					Message: "policy id " + quote(p.ID) + " is already used at " + prev.Location()})
				continue
			}
			byID[p.ID] = p
			policies = append(policies, p)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	s := &Set{
		Name:     name,
		Version:  "sha256:" + hex.EncodeToString(h.Sum(nil)),
		policies: policies,
		byID:     byID,
		actionEq: map[types.EntityUID][]int32{},
		actionIn: map[types.EntityUID][]int32{},
	}
	for i, p := range policies {
		idx := int32(i)
		if p.actionAll {
			s.anyAction = append(s.anyAction, idx)
		}
		for _, a := range p.actionEq {
			s.actionEq[a] = append(s.actionEq[a], idx)
		}
		for _, a := range p.actionIn {
			s.actionIn[a] = append(s.actionIn[a], idx)
		}
	}
	return s, nil
}

func defaultID(file string, line int) string {
	return file + ":" + itoa(line)
}

// Len is the number of policies in the set.
func (s *Set) Len() int { return len(s.policies) }

// Policies returns the policies in load order.
func (s *Set) Policies() []*Policy { return slices.Clone(s.policies) }

// Policy returns the policy with the given id, or nil.
func (s *Set) Policy(id string) *Policy { return s.byID[id] }

// candidates returns the indices of the policies whose scopes can match the
// request, in load order and without duplicates. It appends to buf.
func (s *Set) candidates(r *Request, buf []int32) []int32 {
	out := buf[:0]
	add := func(list []int32) {
		for _, i := range list {
			p := s.policies[i]
			if p.principal.matches(r.principal, r.principalAncestors) && p.resource.matches(r.resource, nil) {
				out = append(out, i)
			}
		}
	}
	add(s.anyAction)
	add(s.actionEq[r.action])
	add(s.actionIn[r.action])
	for _, a := range r.actionAncestors {
		add(s.actionIn[a])
	}
	if len(out) > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out
}

// candidateIter lets cedar.Authorize run over the chosen policies only.
type candidateIter struct {
	set *Set
	idx []int32
}

func (c candidateIter) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, i := range c.idx {
			p := c.set.policies[i]
			if !yield(cedar.PolicyID(p.ID), p.cedar) {
				return
			}
		}
	}
}
