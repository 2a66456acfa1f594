// Package authzen maps OpenID AuthZEN 1.0 access evaluation requests to tool
// calls and decisions back to AuthZEN responses (docs/design.md, "Interfaces": a contract):
//
//	subject  {type: "agent"|"user", id, properties: {groups, owner, …}}
//	action   {name: "<server>/<tool>", properties: {annotations?, input_schema?}}
//	resource {type: "server", id: "<server>"}
//	context  {input: {…}, task_token?: "…", task?: {id, purpose}}
//
// Parsing is strict: duplicate or unknown members, invalid UTF-8 and
// oversized requests are errors, because a member toolgate silently ignored
// (a misspelt "input") would be judged as absent.
package authzen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/toolgate/toolgate/internal/call"
)

// MaxRequestBytes bounds one request body.
const MaxRequestBytes = 4 << 20

// Entity is an AuthZEN subject or resource.
type Entity struct {
	Type       string                    `json:"type"`
	ID         string                    `json:"id"`
	Properties map[string]jsontext.Value `json:"properties,omitempty"`
}

// Action is an AuthZEN action.
type Action struct {
	Name       string                    `json:"name"`
	Properties map[string]jsontext.Value `json:"properties,omitempty"`
}

// Context is the request context toolgate understands.
//
// Other members are accepted and not used: AuthZEN's context is open (its
// examples send "time"), and toolgate's policies see only what it maps.
type Context struct {
	Input     jsontext.Value `json:"input,omitempty"`
	TaskToken string         `json:"task_token,omitempty"`
	Task      *TaskContext   `json:"task,omitempty"`
}

// UnmarshalJSON reads the members toolgate maps and accepts any other (the
// strict options of the rest of the request do not reach in here).
func (c *Context) UnmarshalJSON(b []byte) error {
	type known Context // without this method
	var k known
	if err := jsonv2.Unmarshal(b, &k); err != nil {
		return err
	}
	*c = Context(k)
	return nil
}

// TaskContext states the task when no task token is given.
type TaskContext struct {
	ID      string `json:"id"`
	Purpose string `json:"purpose,omitempty"`
}

// EvaluationRequest is the body of POST /access/v1/evaluation.
type EvaluationRequest struct {
	Subject  *Entity  `json:"subject"`
	Action   *Action  `json:"action"`
	Resource *Entity  `json:"resource"`
	Context  *Context `json:"context,omitempty"`
}

// Stable error codes.
const (
	CodeInvalidRequest = "request.invalid"
	CodeTooLarge       = "request.too_large"
	// CodeUnsupported is a valid AuthZEN request about something toolgate
	// does not govern (a resource that is not a tool server). It is
	// answered with a decision, false, not with an HTTP error: the request
	// is well formed, and nothing toolgate does not know is permitted.
	CodeUnsupported = "request.unsupported"
)

// Error is a request that cannot be evaluated. Field locates the problem
// ("subject.type").
type Error struct {
	Code    string
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

var strict = jsonv2.JoinOptions(jsonv2.RejectUnknownMembers(true))

// ParseEvaluation decodes and checks a single evaluation request.
func ParseEvaluation(b []byte) (*EvaluationRequest, error) {
	if len(b) > MaxRequestBytes {
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("request of %d bytes is larger than the limit of %d", len(b), MaxRequestBytes)}
	}
	var req EvaluationRequest
	if err := jsonv2.Unmarshal(b, &req, strict); err != nil {
		return nil, decodeError(err)
	}
	// The subject may be left out by an authenticated caller asking about
	// itself (CallAs).
	for _, e := range []struct {
		ok    bool
		field string
	}{{req.Action != nil, "action"}, {req.Resource != nil, "resource"}} {
		if !e.ok {
			return nil, invalid(e.field, "is required")
		}
	}
	return &req, nil
}

func decodeError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return &Error{Code: CodeInvalidRequest, Message: "invalid request: " + msg}
}

// Call maps a request to a tool call. now is the decision time.
func (r *EvaluationRequest) Call(now time.Time) (*call.Call, error) { return r.CallAs(now, nil) }

// CallAs maps a request that caller (authenticated; nil if nobody is)
// sent. The caller is recorded on the call. A request without a subject is
// about the caller, and so is a subject that names the caller: then the
// principal is the caller as its credential proves it, and properties the
// request states (groups, owner, …) are not believed. A subject that is
// someone else is judged as stated, if policy lets the caller ask for it
// (Action::"Evaluate", checked by the pipeline).
func (r *EvaluationRequest) CallAs(now time.Time, caller *call.Principal) (*call.Call, error) {
	c, err := r.call(now, caller)
	if err != nil {
		return nil, err
	}
	if caller != nil {
		self := clonePrincipal(*caller)
		c.Caller = &self
		if c.Principal.Kind == caller.Kind && c.Principal.ID == caller.ID {
			c.Principal = clonePrincipal(*caller)
		}
	}
	return c, nil
}

func clonePrincipal(p call.Principal) call.Principal {
	p.Groups = slices.Clone(p.Groups)
	p.Claims = maps.Clone(p.Claims)
	return p
}

func (r *EvaluationRequest) call(now time.Time, caller *call.Principal) (*call.Call, error) {
	c := &call.Call{Time: now}
	if r.Subject == nil {
		if caller == nil {
			return nil, invalid("subject", "is required")
		}
		c.Principal = clonePrincipal(*caller)
		return r.mapRest(c)
	}
	switch r.Subject.Type {
	case "agent":
		c.Principal.Kind = call.KindAgent
	case "user":
		c.Principal.Kind = call.KindUser
	default:
		return nil, invalid("subject.type", "%q must be \"agent\" or \"user\"", r.Subject.Type)
	}
	if r.Subject.ID == "" {
		return nil, invalid("subject.id", "is required")
	}
	c.Principal.ID = r.Subject.ID
	for name, raw := range r.Subject.Properties {
		switch name {
		case "groups":
			if err := jsonv2.Unmarshal(raw, &c.Principal.Groups); err != nil {
				return nil, invalid("subject.properties.groups", "must be an array of strings")
			}
		case "owner":
			if err := jsonv2.Unmarshal(raw, &c.Principal.Owner); err != nil {
				return nil, invalid("subject.properties.owner", "must be a string (the user the agent acts for)")
			}
		default:
			v, err := decodeAny(raw)
			if err != nil {
				return nil, invalid("subject.properties."+name, "%v", err)
			}
			if c.Principal.Claims == nil {
				c.Principal.Claims = map[string]any{}
			}
			c.Principal.Claims[name] = v
		}
	}

	return r.mapRest(c)
}

// mapRest maps the action, resource and context.
func (r *EvaluationRequest) mapRest(c *call.Call) (*call.Call, error) {
	server, tool, hasSep := strings.Cut(r.Action.Name, "/")
	if r.Action.Name == "" {
		return nil, invalid("action.name", "is required")
	}
	if r.Resource.Type != "" && r.Resource.Type != "server" {
		return nil, &Error{Code: CodeUnsupported, Field: "resource.type",
			Message: fmt.Sprintf("%q is not a resource toolgate decides on: toolgate governs tool calls, resource.type \"server\"", r.Resource.Type)}
	}
	switch {
	case hasSep && r.Resource.ID != "" && r.Resource.ID != server:
		return nil, invalid("resource.id", "%q is not the server of action %q", r.Resource.ID, r.Action.Name)
	case !hasSep && r.Resource.ID == "":
		return nil, invalid("action.name", "%q must be \"<server>/<tool>\" (or give the server as resource.id)", r.Action.Name)
	case !hasSep:
		server, tool = r.Resource.ID, r.Action.Name
	}
	if server == "" || tool == "" {
		return nil, invalid("action.name", "%q must be \"<server>/<tool>\"", r.Action.Name)
	}
	c.Server.Name, c.Tool.Name = server, tool
	for name, raw := range r.Action.Properties {
		switch name {
		case "annotations":
			if err := jsonv2.Unmarshal(raw, &c.Tool.Annotations, strict); err != nil {
				return nil, invalid("action.properties.annotations", "must be MCP tool annotations (readOnlyHint, destructiveHint, idempotentHint, openWorldHint): %v", err)
			}
		case "input_schema":
			c.Tool.InputSchema = json.RawMessage(raw)
		default:
			// Open, as AuthZEN's examples ("method": "GET"); not used.
		}
	}

	if ctx := r.Context; ctx != nil {
		if len(ctx.Input) > 0 {
			c.Input = json.RawMessage(ctx.Input)
		}
		c.TaskToken = ctx.TaskToken
		if ctx.Task != nil {
			if ctx.TaskToken != "" {
				return nil, invalid("context.task", "give either task_token or task, not both")
			}
			if ctx.Task.ID == "" {
				return nil, invalid("context.task.id", "is required")
			}
			c.Task = &call.Task{ID: ctx.Task.ID, Purpose: ctx.Task.Purpose}
		}
	}
	return c, nil
}

// decodeAny decodes a property value keeping numbers exact (json.Number).
func decodeAny(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// EvaluationResponse is the AuthZEN response.
type EvaluationResponse struct {
	Decision bool             `json:"decision"`
	Context  *ResponseContext `json:"context,omitempty"`
}

// ResponseContext carries toolgate's decision details.
type ResponseContext struct {
	Effect        call.Effect       `json:"effect"`
	DecisionID    string            `json:"decision_id"`
	Policies      []string          `json:"policies"`
	Layer         string            `json:"layer,omitempty"`
	Stage         string            `json:"stage,omitempty"`
	PolicyVersion string            `json:"policy_version,omitempty"`
	Reasons       []call.Reason     `json:"reasons,omitempty"`
	ReasonUser    map[string]string `json:"reason_user,omitempty"`
	ReasonAdmin   map[string]string `json:"reason_admin,omitempty"`
	Diagnostics   []call.Diagnostic `json:"diagnostics,omitempty"`
}

// Response maps a decision to the AuthZEN response. decision is true only
// for allow: an ask is not a permission until a human grants it.
func Response(d call.Decision) *EvaluationResponse {
	rc := &ResponseContext{
		Effect:        d.Effect,
		DecisionID:    d.ID,
		Policies:      d.Policies,
		Layer:         d.Layer,
		Stage:         d.Stage,
		PolicyVersion: d.PolicyVersion,
		Reasons:       d.Reasons,
		Diagnostics:   d.Diagnostics,
	}
	if rc.Policies == nil {
		rc.Policies = []string{}
	}
	if t := d.ReasonText(); t != "" {
		rc.ReasonUser = map[string]string{"en": t}
	}
	if len(d.Diagnostics) > 0 {
		parts := make([]string, len(d.Diagnostics))
		for i, dg := range d.Diagnostics {
			parts[i] = dg.Message
		}
		rc.ReasonAdmin = map[string]string{"en": strings.Join(parts, "; ")}
	}
	return &EvaluationResponse{Decision: d.Effect == call.Allow, Context: rc}
}

// Unsupported answers a well-formed request about something toolgate does
// not govern (an error with CodeUnsupported) with decision false; ok is false
// for every other error, which the caller reports as an error.
func Unsupported(err error) (resp *EvaluationResponse, ok bool) {
	var ae *Error
	if errors.As(err, &ae) && ae.Code == CodeUnsupported {
		return Response(call.Denied("request", ae.Code, ae.Error())), true
	}
	return nil, false
}
