package mcp

import "sort"

// Action is what toolgate does with a message a client sends to an MCP
// server. Every message gets exactly one: nothing reaches a server that is
// not in this table, and what is forwarded is toolgate's own re-encoding of
// what it parsed (see package jsonrpc), never the client's bytes.
type Action int

const (
	// Refuse: a request is answered with "method not found", a
	// notification is dropped. A server cannot be reached with a method
	// toolgate does not know, since some servers act on methods no
	// specification names.
	Refuse Action = iota
	// Forward: passed on (re-encoded, toolgate's reserved _meta keys
	// removed); the result may be observed (history) or filtered.
	Forward
	// Judge: the request is a tool call: judged by policy and forwarded
	// only if allowed, after its decision record is durable.
	Judge
	// RefuseCall: a notification that would act if a server carried it out
	// (tools/call without an id: no answer could ever tell the client it
	// was denied). It is refused and the refusal is recorded in the audit
	// trail, since it is an attempt to call a tool.
	RefuseCall
)

func (a Action) String() string {
	switch a {
	case Forward:
		return "forward"
	case Judge:
		return "judge"
	case RefuseCall:
		return "refuse and record"
	}
	return "refuse"
}

// clientRequests are the requests a client may send a server (MCP
// 2026-07-28 and the methods of earlier versions).
var clientRequests = map[string]Action{
	"initialize":               Forward,
	"ping":                     Forward,
	"tools/list":               Forward, // filtered: tools the caller can never call are hidden
	"tools/call":               Judge,
	"resources/list":           Forward,
	"resources/templates/list": Forward,
	"resources/read":           Forward, // observed: content taints the task's history
	"resources/subscribe":      Forward,
	"resources/unsubscribe":    Forward,
	"prompts/list":             Forward,
	"prompts/get":              Forward, // observed
	"completion/complete":      Forward,
	"logging/setLevel":         Forward,
	"tasks/get":                Forward,
	"tasks/list":               Forward,
	"tasks/result":             Forward, // observed
	"tasks/cancel":             Forward,
	"server/discover":          Forward, // 2026-07-28
	"subscriptions/listen":     Forward, // 2026-07-28
}

// clientNotifications are the notifications a client may send a server.
var clientNotifications = map[string]Action{
	"notifications/initialized":        Forward,
	"notifications/cancelled":          Forward, // also stops a call still being judged
	"notifications/progress":           Forward,
	"notifications/roots/list_changed": Forward,
	"tools/call":                       RefuseCall,
}

// ClientRequest is what toolgate does with a request (a message with an id)
// of the given method from a client.
func ClientRequest(method string) Action { return clientRequests[method] }

// ClientNotification is what toolgate does with a notification (no id) of
// the given method from a client. A notification named like a request
// (other than tools/call) is dropped: it can get no answer, and a server
// that acted on it would act unjudged.
func ClientNotification(method string) Action { return clientNotifications[method] }

// MethodRule is one row of the table, for documentation and tests.
type MethodRule struct {
	Method       string
	Notification bool
	Action       Action
}

// ClientMethods lists the table, requests first, each part sorted.
func ClientMethods() []MethodRule {
	var rules []MethodRule
	for _, part := range []struct {
		m     map[string]Action
		notif bool
	}{{clientRequests, false}, {clientNotifications, true}} {
		var names []string
		for name := range part.m {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			rules = append(rules, MethodRule{Method: name, Notification: part.notif, Action: part.m[name]})
		}
	}
	return rules
}
