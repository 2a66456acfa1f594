// Package toolgate enforces Cedar policy on AI-agent tool calls inside a Go
// program: the same enforcement pipeline as `toolgate run` and
// `toolgate serve`, for agent frameworks that call tools themselves.
//
//	gate, err := toolgate.New(toolgate.Options{PolicyDirs: []string{"policies"}, DataDir: "/var/lib/myagent"})
//	...
//	d, err := gate.Run(ctx, toolgate.Call{
//		Principal: toolgate.Principal{Kind: "agent", ID: "support-bot", Groups: []string{"support"}},
//		Server: "crm", Tool: "lookup_customer",
//		Arguments: json.RawMessage(`{"email": "ann@example.com"}`),
//	}, func(ctx context.Context) ([]byte, error) {
//		return crm.Lookup(ctx, "ann@example.com") // runs only if allowed
//	})
//	if !d.Allowed { return errors.New(d.Reason) }
//
// Decide only judges; Run judges, writes the decision to the audit trail
// durably, and only then calls the tool. The library states the principal as
// the caller gives it (the caller is the enforcement point), binds argument
// classifiers from the configuration, and fails closed like the proxies.
// Tasks, approvals and history are served by `toolgate serve` (use its
// AuthZEN API from other processes); an "ask" decision is denied by Run.
package toolgate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/facts"
	_ "github.com/toolgate/toolgate/internal/facts/all" // every classifier
	"github.com/toolgate/toolgate/internal/policy"
)

// Options configure a Gate.
type Options struct {
	// ConfigFile is a toolgate configuration file (servers, trust, labels,
	// annotation overrides, facts bindings, limits, audit). Optional.
	ConfigFile string
	// PolicyDirs are directories (or .cedar files) of the organisation
	// layer; they replace the config's policy.dirs. Without them and
	// without Policies, the built-in policy set applies.
	PolicyDirs []string
	// Policies are Cedar documents given in memory (name → text), added to
	// the organisation layer.
	Policies map[string]string
	// DataDir holds the audit trail. Without it the Gate only decides: Run
	// refuses every call, because no call may run unrecorded.
	DataDir string
	// Logger receives the Gate's logs (default: discarded).
	Logger *slog.Logger
}

// Principal is who makes a call.
type Principal struct {
	// Kind is "agent" or "user".
	Kind string
	ID   string
	// Groups become Group parents in Cedar.
	Groups []string
	// Owner is the user an agent acts for.
	Owner string
	// Claims become entity tags.
	Claims map[string]any
}

// Annotations are MCP tool annotations (nil fields take the MCP defaults).
type Annotations = call.Annotations

// Reason is one cause of a decision; Diagnostic is operator detail (a
// policy's evaluation error with its location).
type (
	Reason     = call.Reason
	Diagnostic = call.Diagnostic
)

// Call is one tool call.
type Call struct {
	Principal Principal
	Server    string
	Tool      string
	// Arguments is the JSON object of arguments.
	Arguments json.RawMessage
	// Annotations state what the tool does; the configuration's overrides
	// win. Without them a tool counts as destructive (MCP defaults).
	Annotations Annotations
	// InputSchema is the tool's JSON Schema, if known: numbers convert by it.
	InputSchema json.RawMessage
	// TaskID and Purpose state the task the call serves (context.task).
	TaskID, Purpose string
}

// Decision is the verdict on a call.
type Decision struct {
	ID string
	// Effect is "allow", "deny" or "ask".
	Effect string
	// Allowed is true only for allow.
	Allowed bool
	// Policies are the ids of the determining policies.
	Policies []string
	// Reason is the text to show the agent when the call is not allowed.
	Reason string
	// Reasons and Diagnostics are the full detail.
	Reasons       []Reason
	Diagnostics   []Diagnostic
	PolicyVersion string
}

// Gate judges tool calls.
type Gate struct {
	pipe *enforce.Pipeline
	sink audit.Sink
}

// New loads the configuration and policies and opens the audit trail.
func New(opts Options) (*Gate, error) {
	cfg := config.Default()
	if opts.ConfigFile != "" {
		var err error
		if cfg, err = config.Load(opts.ConfigFile); err != nil {
			return nil, err
		}
	}
	if len(opts.PolicyDirs) > 0 {
		cfg.Policy.Dirs = opts.PolicyDirs
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	layers, err := loadLayers(cfg, opts.Policies)
	if err != nil {
		return nil, err
	}
	finder, err := facts.NewFinder(cfg.FactServers())
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	g := &Gate{}
	if opts.DataDir != "" {
		if g.sink, err = audit.OpenLogged(cfg.Audit, opts.DataDir, log); err != nil {
			return nil, err
		}
	}
	g.pipe, err = enforce.New(enforce.Config{
		Catalog:  catalog.New(cfg),
		Facts:    finder,
		Policies: policy.NewStaticEngine(layers...),
		Audit:    g.sink,
		Limits:   cfg.InputLimits(),
		Log:      log,
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// loadLayers builds the configured layers, adding in-memory policies to the
// organisation layer.
func loadLayers(cfg *config.Config, inline map[string]string) ([]*policy.Set, error) {
	if len(inline) == 0 {
		return policy.Load(cfg.Policy)
	}
	var srcs []policy.Source
	if len(cfg.Policy.Dirs) > 0 {
		var err error
		if srcs, err = policy.ReadDirs(cfg.Policy.Dirs); err != nil {
			return nil, err
		}
	}
	for name, text := range inline {
		srcs = append(srcs, policy.Source{Name: name, Text: []byte(text)})
	}
	org, err := policy.NewSet(policy.OrgLayer, srcs)
	if err != nil {
		return nil, err
	}
	rest, err := policy.Load(policy.Config{Layers: cfg.Policy.Layers, Dirs: []string{}})
	if err != nil {
		return nil, err
	}
	return append([]*policy.Set{org}, rest[1:]...), nil
}

// Decide judges a call without running it. With a data directory the
// decision is recorded; if it cannot be, the decision is deny.
func (g *Gate) Decide(ctx context.Context, c Call) Decision {
	return convert(g.pipe.Decide(ctx, c.internal()))
}

// ErrNotAllowed is returned by Run when the call did not run.
var ErrNotAllowed = errors.New("toolgate: the call is not allowed")

// Run judges a call and, only if it is allowed and its decision is durably
// recorded, runs fn; the outcome is recorded after. It returns the decision,
// fn's result and error, or ErrNotAllowed (wrapping the reason) when fn did
// not run.
func (g *Gate) Run(ctx context.Context, c Call, fn func(ctx context.Context) ([]byte, error)) (Decision, []byte, error) {
	var result []byte
	var runErr error
	d := g.pipe.Execute(ctx, c.internal(), func(ctx context.Context, _ *call.Call, _ *call.Credential) call.Outcome {
		result, runErr = fn(ctx)
		out := call.Outcome{Status: call.OutcomeOK, Result: result}
		if runErr != nil {
			out.Status, out.Error = call.OutcomeToolError, runErr.Error()
			if errors.Is(runErr, context.DeadlineExceeded) {
				out.Status = call.OutcomeTimeout
			}
		}
		return out
	})
	out := convert(d)
	if !out.Allowed {
		return out, nil, fmt.Errorf("%w: %s", ErrNotAllowed, out.Reason)
	}
	return out, result, runErr
}

// Close closes the audit trail (signing its last records).
func (g *Gate) Close() error {
	if g.sink == nil {
		return nil
	}
	return g.sink.Close()
}

func (c Call) internal() *call.Call {
	ic := &call.Call{
		Principal: call.Principal{Kind: call.PrincipalKind(c.Principal.Kind), ID: c.Principal.ID,
			Groups: c.Principal.Groups, Owner: c.Principal.Owner, Claims: c.Principal.Claims},
		Server: call.Server{Name: c.Server},
		Tool:   call.Tool{Name: c.Tool, Annotations: c.Annotations, InputSchema: c.InputSchema},
		Input:  c.Arguments,
	}
	if c.TaskID != "" {
		ic.Task = &call.Task{ID: c.TaskID, Purpose: c.Purpose}
	}
	return ic
}

func convert(d call.Decision) Decision {
	return Decision{
		ID:            d.ID,
		Effect:        string(d.Effect),
		Allowed:       d.Effect == call.Allow,
		Policies:      d.Policies,
		Reason:        d.ReasonText(),
		Reasons:       d.Reasons,
		Diagnostics:   d.Diagnostics,
		PolicyVersion: d.PolicyVersion,
	}
}
