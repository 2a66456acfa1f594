package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
)

// Entity types and well-known action groups of the policy model (docs/design.md).
const (
	TypeAgent  types.EntityType = "Agent"
	TypeUser   types.EntityType = "User"
	TypeGroup  types.EntityType = "Group"
	TypeAction types.EntityType = "Action"
	TypeServer types.EntityType = "Server"
)

var (
	ActionCallTool    = types.NewEntityUID(TypeAction, "CallTool")
	ActionReadOnly    = types.NewEntityUID(TypeAction, "ReadOnly")
	ActionDestructive = types.NewEntityUID(TypeAction, "Destructive")
	ActionOpenWorld   = types.NewEntityUID(TypeAction, "OpenWorld")
)

// Request is a call in Cedar's terms: the request and the entities it needs.
// Build it once per call; every layer evaluates the same Request.
type Request struct {
	principal          types.EntityUID
	principalAncestors []types.EntityUID
	action             types.EntityUID
	actionAncestors    []types.EntityUID
	resource           types.EntityUID
	context            types.Record
	entities           entitySlice
}

// Principal, Action and Resource return the request's entity ids.
func (r *Request) Principal() types.EntityUID { return r.principal }
func (r *Request) Action() types.EntityUID    { return r.action }
func (r *Request) Resource() types.EntityUID  { return r.resource }

// Context returns the request's context record.
func (r *Request) Context() types.Record { return r.context }

// Entities returns the entities of the request as a map (for tools that
// print or validate them; evaluation uses the request directly).
func (r *Request) Entities() types.EntityMap {
	m := make(types.EntityMap, len(r.entities))
	for _, e := range r.entities {
		m[e.UID] = e
	}
	return m
}

func (r *Request) cedar() types.Request {
	return types.Request{Principal: r.principal, Action: r.action, Resource: r.resource, Context: r.context}
}

// RequestError is a call that cannot be put to Cedar: a bad principal, or
// arguments that do not convert. The decision is deny.
type RequestError struct {
	Code    string
	Message string
}

func (e *RequestError) Error() string { return e.Message }

// Stable codes of request errors (beyond cedarjson's input.* codes).
const (
	CodeNoPrincipal = "identity.missing"
	CodeBadKind     = "identity.kind"
	CodeNoTool      = "call.tool_missing"
	CodeBadServer   = "call.server_name"
)

// reserved are action group names the policy model gives a meaning; a server
// or label of that name would put tools into groups they do not belong to.
var reserved = map[string]bool{"CallTool": true, "ReadOnly": true, "Destructive": true, "OpenWorld": true, "Approve": true,
	// The console's administrative actions (docs/policy.md).
	"ReadTrail": true, "ReadTasks": true, "RevokeTask": true, "RevokeAgent": true, "ReadPolicies": true, "ReadTools": true, "ManagePins": true}

// CheckServerName rejects server names that would make actions ambiguous.
func CheckServerName(name string) error {
	switch {
	case name == "":
		return errors.New("server name is empty")
	case strings.Contains(name, "/"):
		return fmt.Errorf("server name %q contains \"/\", which separates server and tool in action names", name)
	case reserved[name]:
		return fmt.Errorf("server name %q is reserved: Action::%q is an action group of the policy model", name, name)
	}
	return nil
}

// CheckLabel rejects labels that would forge a reserved action group.
func CheckLabel(label string) error {
	if label == "" {
		return errors.New("label is empty")
	}
	if reserved[label] {
		return fmt.Errorf("label %q is reserved: Action::%q is set from tool annotations, not labels", label, label)
	}
	return nil
}

// toolEntities are the entities of a call that depend only on its tool and
// server: the action with its groups, the server's action group, and the
// Server resource.
type toolEntities struct {
	action, resource types.EntityUID
	ancestors        []types.EntityUID
	entities         []types.Entity
}

type toolKey struct {
	server, tool, trust, labels, serverLabels string
	readOnly, destructive, openWorld          bool
}

// entityCache keeps entities that are the same for many calls (a tool's
// action and resource, a principal without claims). Their keys can come from
// callers (AuthZEN), so it is bounded: when full it is emptied, which costs
// only rebuilding.
type entityCache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

const entityCacheSize = 4096

func (c *entityCache[K, V]) get(k K, build func() V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = build()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= entityCacheSize {
		c.m = map[K]V{}
	}
	c.m[k] = v
	c.mu.Unlock()
	return v
}

var toolCache entityCache[toolKey, *toolEntities]

// joinKey encodes a list of strings into one cache-key string without
// ambiguity (each element is length-prefixed), so that no two different
// lists of groups or labels can ever share a cached entity.
func joinKey(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}

func toolEntitiesFor(c *call.Call) *toolEntities {
	a := c.Tool.Annotations
	trust := c.Server.Trust
	if trust == "" {
		trust = "untrusted"
	}
	k := toolKey{server: c.Server.Name, tool: c.Tool.Name, trust: trust,
		readOnly: a.IsReadOnly(), destructive: a.IsDestructive(), openWorld: a.IsOpenWorld()}
	if len(c.Tool.Labels) > 0 {
		k.labels = joinKey(c.Tool.Labels)
	}
	if len(c.Server.Labels) > 0 {
		k.serverLabels = joinKey(c.Server.Labels)
	}
	return toolCache.get(k, func() *toolEntities { return buildToolEntities(c, k) })
}

// principalEntity is the principal's entity and its ancestors (groups).
type principalEntity struct {
	entity    types.Entity
	ancestors []types.EntityUID
}

type principalKey struct {
	uid           types.EntityUID
	owner, groups string
}

var principalCache entityCache[principalKey, *principalEntity]

// principalFor builds the principal entity: Group parents, the owner
// attribute, claims as tags. Principals without claims repeat from call to
// call and are cached; claims can differ per token, so those are not.
func principalFor(c *call.Call, uid types.EntityUID, lim cedarjson.Limits) (*principalEntity, error) {
	if len(c.Principal.Claims) > 0 {
		return buildPrincipal(c.Principal, uid, lim)
	}
	k := principalKey{uid: uid, owner: c.Principal.Owner, groups: joinKey(c.Principal.Groups)}
	return principalCache.get(k, func() *principalEntity {
		p, _ := buildPrincipal(c.Principal, uid, lim) // no claims, no conversion, no error
		return p
	}), nil
}

func buildPrincipal(pr call.Principal, uid types.EntityUID, lim cedarjson.Limits) (*principalEntity, error) {
	parents := make([]types.EntityUID, 0, len(pr.Groups))
	for _, g := range pr.Groups {
		parents = append(parents, types.NewEntityUID(TypeGroup, types.String(g)))
	}
	attrs := emptyRecord
	if pr.Owner != "" {
		attrs = types.NewRecord(types.RecordMap{"owner": types.NewEntityUID(TypeUser, types.String(pr.Owner))})
	}
	var tags types.Record
	if len(pr.Claims) > 0 {
		v, err := cedarjson.FromGo(pr.Claims, "principal.claims", lim)
		if err != nil {
			return nil, inputError(err)
		}
		if rec, ok := v.(types.Record); ok {
			tags = rec
		}
	}
	return &principalEntity{
		entity:    types.Entity{UID: uid, Parents: types.NewEntityUIDSet(parents...), Attributes: attrs, Tags: tags},
		ancestors: parents,
	}, nil
}

func buildToolEntities(c *call.Call, k toolKey) *toolEntities {
	// Action::"<server>/<tool>" in Action::"<server>" in Action::"CallTool",
	// plus annotation and label groups. Every ancestor is also a direct
	// parent, so `in` needs one lookup.
	server := types.NewEntityUID(TypeAction, types.String(c.Server.Name))
	t := &toolEntities{action: types.NewEntityUID(TypeAction, types.String(c.Action()))}
	anc := []types.EntityUID{server, ActionCallTool}
	if k.readOnly {
		anc = append(anc, ActionReadOnly)
	}
	if k.destructive {
		anc = append(anc, ActionDestructive)
	}
	if k.openWorld {
		anc = append(anc, ActionOpenWorld)
	}
	for _, l := range c.Tool.Labels {
		anc = append(anc, types.NewEntityUID(TypeAction, types.String(l)))
	}
	t.ancestors = anc
	// Server::"<server>" with trust and labels.
	t.resource = types.NewEntityUID(TypeServer, types.String(c.Server.Name))
	t.entities = []types.Entity{
		{UID: t.action, Parents: types.NewEntityUIDSet(anc...)},
		{UID: server, Parents: types.NewEntityUIDSet(ActionCallTool)},
		{UID: t.resource, Attributes: types.NewRecord(types.RecordMap{
			"trust":  types.String(k.trust),
			"labels": stringSet(c.Server.Labels),
		})},
	}
	return t
}

// NewRequest builds the Cedar request for a call. shape comes from the tool's
// input schema (nil when unknown); lim bounds the conversion of arguments and
// claims.
func NewRequest(c *call.Call, shape *cedarjson.Shape, lim cedarjson.Limits) (*Request, error) {
	r := &Request{entities: make(entitySlice, 0, 4)}
	var ptype types.EntityType
	switch c.Principal.Kind {
	case call.KindAgent:
		ptype = TypeAgent
	case call.KindUser:
		ptype = TypeUser
	default:
		return nil, &RequestError{Code: CodeBadKind, Message: fmt.Sprintf("principal kind %q is neither agent nor user", c.Principal.Kind)}
	}
	if c.Principal.ID == "" {
		return nil, &RequestError{Code: CodeNoPrincipal, Message: "the call has no principal: nobody is identified as making it"}
	}
	if c.Server.Name == "" || c.Tool.Name == "" {
		return nil, &RequestError{Code: CodeNoTool, Message: "the call names no server and tool"}
	}
	if err := CheckServerName(c.Server.Name); err != nil {
		return nil, &RequestError{Code: CodeBadServer, Message: err.Error()}
	}
	r.principal = types.NewEntityUID(ptype, types.String(c.Principal.ID))

	p, err := principalFor(c, r.principal, lim)
	if err != nil {
		return nil, err
	}
	r.principalAncestors = p.ancestors
	r.entities = append(r.entities, p.entity)

	// Action and resource: the same for every call of a tool, so built once.
	t := toolEntitiesFor(c)
	r.action, r.actionAncestors, r.resource = t.action, t.ancestors, t.resource
	r.entities = append(r.entities, t.entities...)

	ctx, err := buildContext(c, shape, lim)
	if err != nil {
		return nil, err
	}
	r.context = ctx
	return r, nil
}

// Parts of the context that are the same for most calls are built once:
// Cedar records hash their contents on construction, which is most of the
// cost of a decision.
var (
	emptyRecord = types.NewRecord(nil)
	emptySet    = types.NewSet()
	noTask      = types.NewRecord(types.RecordMap{"id": types.String(""), "purpose": types.String(""), "depth": types.Long(0)})
	cleanFlow   = types.NewRecord(types.RecordMap{"untrusted": types.False, "private": types.False, "tainted": emptySet, "tainted_links": emptySet, "trusted": emptySet, "sources": emptyRecord})
)

// The same, boxed once: putting a Record or a Set into an interface (as a
// context member) allocates, and a decision would do it for each.
var (
	emptyRecordV types.Value = emptyRecord
	emptySetV    types.Value = emptySet
	noTaskV      types.Value = noTask
	cleanFlowV   types.Value = cleanFlow
)

func buildContext(c *call.Call, shape *cedarjson.Shape, lim cedarjson.Limits) (types.Record, error) {
	input := emptyRecordV
	if len(c.Input) > 0 && string(c.Input) != "null" {
		v, err := cedarjson.FromJSON(c.Input, "input", shape, lim, true)
		if err != nil {
			return types.Record{}, inputError(err)
		}
		input = v
	}
	facts := emptyRecordV
	if len(c.Facts) > 0 {
		v, err := cedarjson.FromGo(c.Facts, "facts", lim)
		if err != nil {
			return types.Record{}, inputError(err)
		}
		facts = v
	}
	windows := emptyRecordV
	if len(c.Windows) > 0 {
		v, err := cedarjson.FromGo(c.Windows, "windows", lim)
		if err != nil {
			return types.Record{}, inputError(err)
		}
		windows = v
	}
	task := noTaskV
	if c.Task != nil {
		task = types.NewRecord(types.RecordMap{
			"id":      types.String(c.Task.ID),
			"purpose": types.String(c.Task.Purpose),
			"depth":   types.Long(c.Task.Depth),
		})
	}
	flow := cleanFlowV
	in, _ := input.(types.Record)
	if !c.Flow.Untrusted && !c.Flow.Private && len(c.Flow.Tainted) == 0 && len(c.Flow.TaintedLinks) == 0 && len(c.Flow.Trusted) == 0 && len(c.Flow.Sources) == 0 {
		if in.Len() > 0 {
			flow = cleanFlowFor(in)
		}
	} else {
		flow = types.NewRecord(types.RecordMap{
			"untrusted":     types.Boolean(c.Flow.Untrusted),
			"private":       types.Boolean(c.Flow.Private),
			"tainted":       stringSet(c.Flow.Tainted),
			"tainted_links": stringSet(c.Flow.TaintedLinks),
			"trusted":       stringSet(c.Flow.Trusted),
			"sources":       flowSources(c.Flow.Sources, in),
		})
	}
	chain := emptySetV
	if len(c.Chain) > 0 {
		chain = stringSet(c.Chain)
	}
	return types.NewRecord(types.RecordMap{
		"input":   input,
		"system":  systemAt(c.Time),
		"task":    task,
		"chain":   chain,
		"facts":   facts,
		"flow":    flow,
		"windows": windows,
	}), nil
}

// system is the context's system record of one millisecond (Cedar
// datetimes count milliseconds): the decisions made in the same
// millisecond share it instead of building and hashing it each.
type system struct {
	ms int64
	v  types.Value
}

var lastSystem atomic.Pointer[system]

func systemAt(t time.Time) types.Value {
	ms := t.UnixMilli()
	if s := lastSystem.Load(); s != nil && s.ms == ms {
		return s.v
	}
	s := &system{ms: ms, v: types.NewRecord(types.RecordMap{"now": types.NewDatetimeFromMillis(ms)})}
	lastSystem.Store(s)
	return s.v
}

func inputError(err error) error {
	var ce *cedarjson.Error
	if errors.As(err, &ce) {
		return &RequestError{Code: ce.Code, Message: ce.Error()}
	}
	return &RequestError{Code: cedarjson.CodeInvalidJSON, Message: err.Error()}
}

// cleanFlows caches the flow of a call with nothing in its history by its
// arguments' names: the same for every call of a tool.
var cleanFlows struct {
	sync.Mutex
	m map[string]types.Value
}

const maxCleanFlows = 4096

func cleanFlowFor(in types.Record) types.Value {
	var buf [16]string
	ks := buf[:0]
	for k := range in.Keys() {
		ks = append(ks, string(k))
	}
	slices.Sort(ks)
	key := strings.Join(ks, "\x00")
	cleanFlows.Lock()
	defer cleanFlows.Unlock()
	if v, ok := cleanFlows.m[key]; ok {
		return v
	}
	if cleanFlows.m == nil || len(cleanFlows.m) >= maxCleanFlows {
		cleanFlows.m = map[string]types.Value{} // argument names come from callers: stay bounded
	}
	v := types.Value(types.NewRecord(types.RecordMap{
		"untrusted": types.False, "private": types.False, "tainted": emptySet, "tainted_links": emptySet, "trusted": emptySet,
		"sources": flowSources(nil, in),
	}))
	cleanFlows.m[key] = v
	return v
}

// flowSources is context.flow.sources: for each argument, the set of
// {tool, field, label} its values were seen in. Every top-level argument
// has an entry (an empty set when nothing is known of it), so a policy can
// read context.flow.sources.<arg> without a `has` test.
func flowSources(src map[string][]call.Source, in types.Record) types.Value {
	if len(src) == 0 && in.Len() == 0 {
		return emptyRecordV
	}
	m := make(types.RecordMap, in.Len()+len(src))
	for k := range in.Keys() {
		m[k] = emptySetV
	}
	for arg, ss := range src {
		vs := make([]types.Value, len(ss))
		for i, s := range ss {
			vs[i] = types.NewRecord(types.RecordMap{
				"tool": types.String(s.Tool), "field": types.String(s.Field), "label": types.String(s.Label),
			})
		}
		m[types.String(arg)] = types.NewSet(vs...)
	}
	return types.NewRecord(m)
}

func stringSet(ss []string) types.Set {
	if len(ss) == 0 {
		return emptySet
	}
	vs := make([]types.Value, len(ss))
	for i, s := range ss {
		vs[i] = types.String(s)
	}
	return types.NewSet(vs...)
}

// entitySlice is an EntityGetter over the handful of entities of one request;
// a linear scan beats building a map for so few.
type entitySlice []types.Entity

func (es entitySlice) Get(uid types.EntityUID) (types.Entity, bool) {
	for _, e := range es {
		if e.UID == uid {
			return e, true
		}
	}
	return types.Entity{}, false
}
