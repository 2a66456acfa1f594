package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/server"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/task"
)

// taskParts are what the identify and task stages work with: the identity
// verifier, toolgate's signing keys and the task store (in the data
// directory, or the PostgreSQL database replicas share), and the task
// service over them.
type taskParts struct {
	ids  *identity.Verifier
	keys keyStore
	st   *state
	db   store.Backend
	svc  *task.Service
}

// openTaskParts opens the parts in dataDir or the configured store. Only
// createData creates a key or the database; readData also writes nothing
// (`toolgate check` only verifies, `task list` only reads); updateData
// writes the database but creates neither it nor a key.
func openTaskParts(cfg *config.Config, dataDir string, log *slog.Logger, access dataAccess) (*taskParts, error) {
	ids, err := identity.New(cfg.Identity, identity.Options{})
	if err != nil {
		return nil, err
	}
	st, err := openState(cfg, dataDir, access)
	if err != nil {
		return nil, err
	}
	kp, err := st.keys(cfg, access)
	if err != nil {
		st.Close()
		return nil, err
	}
	svc, err := task.New(cfg.Tasks, task.Options{
		Tokens: keys.NewTokens(kp, cfg.Keys.Issuer), Tasks: st.db, Budgets: st.db, Identity: ids, Log: log,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &taskParts{ids: ids, keys: kp, st: st, db: st.db, svc: svc}, nil
}

func (p *taskParts) Close() error { return p.st.Close() }

// stages wires the identify stage (with the local default principal, nil
// for none), the task stage and, if spend, the task budget.
func (p *taskParts) stages(def *call.Principal, spend bool) func(*enforce.Config) {
	return func(ec *enforce.Config) {
		ec.Identify = &identity.Stage{Verifier: p.ids, Default: def}
		ec.Task = p.svc
		if spend {
			ec.Budget = p.svc
		}
	}
}

// defaultPrincipal is the config's local default principal, or nil.
func defaultPrincipal(cfg *config.Config) *call.Principal {
	pc := cfg.Principal
	if pc == nil {
		return nil
	}
	return &call.Principal{Kind: call.PrincipalKind(pc.Kind), ID: pc.ID, Groups: pc.Groups, Owner: pc.Owner, Claims: pc.Claims}
}

// failedTasks stands in for the task stage when its parts cannot be opened:
// a call with a task token is denied with the reason, others pass.
type failedTasks struct{ err error }

func (f failedTasks) ResolveTask(_ context.Context, c *call.Call) ([]*policy.Set, error) {
	if c.TaskToken == "" {
		return nil, nil
	}
	// A token that is not even a JWS is malformed whatever the state.
	if _, _, _, err := keys.ParseHeader(c.TaskToken); err != nil {
		return nil, enforce.Errorf(task.CodeMalformed, "the task token is rejected: %v", err)
	}
	return nil, enforce.Errorf(task.CodeStore, "the task token cannot be verified: %v", f.err)
}

// scopeFlags are the flags that make a scope.
type scopeFlags struct {
	tools      []string
	scopeFile  string
	cedarFile  string
	ttl        time.Duration
	budget     int64
	toolBudget []string
	purpose    string
	asJSON     bool
}

func (f *scopeFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.tools, "tool", nil, `a tool the task may call: "server/tool", "server/*" or "*" (repeatable)`)
	fl.StringVar(&f.scopeFile, "scope", "", "scope file (YAML or JSON: {tools: [...], cedar: ...}); see docs/tasks.md")
	fl.StringVar(&f.cedarFile, "cedar", "", "Cedar policies that make (part of) the scope")
	fl.DurationVar(&f.ttl, "ttl", 0, "time to live (create: default from tasks.default_ttl; delegate: the parent's remaining life)")
	fl.Int64Var(&f.budget, "budget", 0, "most calls in all (0: no limit at this hop)")
	fl.StringArrayVar(&f.toolBudget, "tool-budget", nil, `most calls of one tool: "server/tool=N" (repeatable)`)
	fl.StringVar(&f.purpose, "purpose", "", "what the task is for (recorded with every call)")
	fl.BoolVar(&f.asJSON, "json", false, "print the task and token as JSON")
}

// scope builds the scope from the flags; ok is false when none was given.
func (f *scopeFlags) scope() (task.Scope, bool, error) {
	var s task.Scope
	given := false
	if f.scopeFile != "" {
		b, err := os.ReadFile(f.scopeFile)
		if err != nil {
			return s, false, err
		}
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return s, false, fmt.Errorf("%s: %v", f.scopeFile, err)
		}
		js, err := json.Marshal(v)
		if err != nil {
			return s, false, fmt.Errorf("%s: %v", f.scopeFile, err)
		}
		if s, err = task.ParseScope(js); err != nil {
			return s, false, fmt.Errorf("%s: %v", f.scopeFile, err)
		}
		given = true
	}
	for _, t := range f.tools {
		s.Tools = append(s.Tools, task.ToolRule{Tool: t})
		given = true
	}
	if f.cedarFile != "" {
		b, err := os.ReadFile(f.cedarFile)
		if err != nil {
			return s, false, err
		}
		s.Cedar += string(b)
		given = true
	}
	if given {
		if err := s.Validate(); err != nil {
			return s, false, err
		}
	}
	return s, given, nil
}

func (f *scopeFlags) budgetOf() (*task.Budget, error) {
	b := &task.Budget{Total: f.budget}
	for _, tb := range f.toolBudget {
		tool, n, ok := strings.Cut(tb, "=")
		v, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("--tool-budget %q is not server/tool=N", tb)
		}
		if b.PerTool == nil {
			b.PerTool = map[string]int64{}
		}
		b.PerTool[tool] = v
	}
	if b.Total == 0 && len(b.PerTool) == 0 {
		return nil, nil
	}
	return b, nil
}

func newTaskCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "task create|delegate|revoke|list",
		Short: "Create, delegate, revoke and list tasks (just-for-task access)",
		Long: `task manages tasks in the data directory, as its operator: the command signs
with toolgate's keys and writes the task store there, so it may do what an
admin may (create a task for any agent, revoke any task). Agents and users
use the HTTP API of 'toolgate serve' instead (POST /v1/tasks, POST /v1/token,
DELETE /v1/tasks/{id}); see docs/tasks.md.`,
	}
	cmd.AddCommand(newTaskCreateCmd(g), newTaskDelegateCmd(g), newTaskRevokeCmd(g), newTaskListCmd(g))
	return cmd
}

// openLocal opens the task parts of the data directory for the operator,
// for what the command does there.
func (g *globals) openLocal(access dataAccess) (*taskParts, *config.Config, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	dataDir, err := g.dataDirFor(cfg, access)
	if err != nil {
		return nil, nil, err
	}
	p, err := openTaskParts(cfg, dataDir, nil, access)
	return p, cfg, err
}

func (g *globals) printIssued(iss *task.Issued, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(iss)
	}
	fmt.Fprintln(g.stderr, "task", iss.Task.ID, "for agent", iss.Task.Agent, "expires", iss.ExpiresAt.Local().Format(time.RFC3339))
	_, err := fmt.Fprintln(g.stdout, iss.Token)
	return err
}

func newTaskCreateCmd(g *globals) *cobra.Command {
	var f scopeFlags
	var agent, owner string
	cmd := &cobra.Command{
		Use:   "create --agent ID --purpose TEXT (--tool T... | --scope FILE | --cedar FILE) [--ttl D] [--budget N]",
		Short: "Create a task and print its task token",
		Example: `  toolgate task create --agent orchestrator --owner alice --purpose "quarterly report" \
      --tool 'fs/*' --tool web/fetch --ttl 2h --budget 200 --tool-budget fs/write_file=10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			scope, ok, err := f.scope()
			if err != nil {
				return usageError{err}
			}
			if !ok {
				return usageError{errors.New("a scope is required: --tool, --scope or --cedar")}
			}
			budget, err := f.budgetOf()
			if err != nil {
				return usageError{err}
			}
			p, _, err := g.openLocal(createData)
			if err != nil {
				return err
			}
			defer p.Close()
			iss, err := p.svc.Create(cmd.Context(), task.Caller{Local: true}, task.CreateRequest{
				Agent: agent, Owner: owner, Purpose: f.purpose, Scope: scope, TTL: task.Duration(f.ttl), Budget: budget,
			})
			if err != nil {
				return err
			}
			return g.printIssued(iss, f.asJSON)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&agent, "agent", "", "the agent the task is given to (required)")
	cmd.Flags().StringVar(&owner, "owner", "", "the human the agent acts for")
	return cmd
}

func newTaskDelegateCmd(g *globals) *cobra.Command {
	var f scopeFlags
	var parent, actorToken, agent string
	cmd := &cobra.Command{
		Use:   "delegate --token PARENT (--actor-token T | --agent ID) [--tool T...] [--ttl D] [--budget N]",
		Short: "Delegate a task to a sub-agent with a narrower scope and print the child's token",
		Long: `delegate makes a child task of the task whose token --token gives ("-" reads
it from standard input), for the sub-agent that --actor-token identifies
(verified like any identity token) or that --agent names. The child's scope
(default: the parent's) must be within every scope above it; its ttl and
budget can only shrink. Agents do the same with RFC 8693 token exchange at
POST /v1/token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if parent == "-" {
				b, err := io.ReadAll(io.LimitReader(g.stdin, keys.MaxTokenBytes))
				if err != nil {
					return err
				}
				parent = strings.TrimSpace(string(b))
			}
			if parent == "" {
				return usageError{errors.New("--token (the parent's task token) is required")}
			}
			scope, ok, err := f.scope()
			if err != nil {
				return usageError{err}
			}
			budget, err := f.budgetOf()
			if err != nil {
				return usageError{err}
			}
			p, _, err := g.openLocal(updateData)
			if err != nil {
				return err
			}
			defer p.Close()
			req := task.DelegateRequest{SubjectToken: parent, ActorToken: actorToken, Agent: agent,
				Purpose: f.purpose, TTL: f.ttl, Budget: budget}
			if ok {
				req.Scope = &scope
			}
			iss, err := p.svc.Delegate(cmd.Context(), task.Caller{Local: true}, req)
			if err != nil {
				return err
			}
			return g.printIssued(iss, f.asJSON)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&parent, "token", "", `the parent's task token ("-": standard input)`)
	cmd.Flags().StringVar(&actorToken, "actor-token", "", "the sub-agent's identity token or API key")
	cmd.Flags().StringVar(&agent, "agent", "", "the sub-agent's id (instead of --actor-token)")
	return cmd
}

func newTaskRevokeCmd(g *globals) *cobra.Command {
	var agent, reason string
	cmd := &cobra.Command{
		Use:   "revoke (ID | --agent ID) [--reason TEXT]",
		Short: "Revoke a task and every task below it, or every task of an agent",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (agent != "") {
				return usageError{errors.New("give a task id or --agent, not both")}
			}
			p, _, err := g.openLocal(updateData)
			if err != nil {
				return err
			}
			defer p.Close()
			var ids []string
			if agent != "" {
				ids, err = p.svc.RevokeAgent(cmd.Context(), task.Caller{Local: true}, agent, reason)
			} else {
				ids, err = p.svc.Revoke(cmd.Context(), task.Caller{Local: true}, args[0], reason)
			}
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				fmt.Fprintln(g.stdout, "nothing to revoke (already revoked)")
			}
			for _, id := range ids {
				fmt.Fprintln(g.stdout, "revoked", id)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&agent, "agent", "", "revoke every task given to this agent (and everything below them)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded, and shown in the denials that follow)")
	return cmd
}

func newTaskListCmd(g *globals) *cobra.Command {
	var live, asJSON bool
	var agent string
	cmd := &cobra.Command{
		Use:   "list [--live] [--agent ID] [--json]",
		Short: "Show the tasks as trees of delegation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, _, err := g.openLocal(readData)
			if err != nil {
				return err
			}
			defer p.Close()
			views, err := p.svc.List(cmd.Context(), task.Caller{Local: true}, store.TaskFilter{Live: live, Agent: agent})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"tasks": views})
			}
			printTree(g.stdout, g.style(), views, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&live, "live", false, "only tasks neither revoked nor expired")
	cmd.Flags().StringVar(&agent, "agent", "", "only tasks given to this agent")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printTree prints tasks under their parents (a task whose parent is not in
// the list is printed as a root).
func printTree(w io.Writer, st style, views []*task.View, now time.Time) {
	if len(views) == 0 {
		fmt.Fprintln(w, "no tasks")
		return
	}
	present := map[string]bool{}
	children := map[string][]*task.View{}
	for _, v := range views {
		present[v.ID] = true
	}
	var roots []*task.View
	for _, v := range views {
		if v.ParentID != "" && present[v.ParentID] {
			children[v.ParentID] = append(children[v.ParentID], v)
		} else {
			roots = append(roots, v)
		}
	}
	var walk func(v *task.View, prefix, branch string)
	walk = func(v *task.View, prefix, branch string) {
		status := "live, expires " + v.ExpiresAt.Local().Format(time.RFC3339)
		switch {
		case v.Revoked != nil && v.Revoked.Via != v.ID:
			status = "revoked with " + v.Revoked.Via
		case v.Revoked != nil:
			status = "revoked"
			if v.Revoked.Reason != "" {
				status += ": " + v.Revoked.Reason
			}
		case !now.Before(v.ExpiresAt):
			status = "expired"
		}
		owner := ""
		if v.Owner != "" {
			owner = " for " + v.Owner
		}
		budget := ""
		if len(v.Budget) > 0 {
			var b task.Budget
			_ = json.Unmarshal(v.Budget, &b)
			if b.Total > 0 {
				budget = fmt.Sprintf(" [%d/%d calls]", v.Spent[""], b.Total)
			}
		}
		switch {
		case strings.HasPrefix(status, "live"):
			status = st.green(status)
		case strings.HasPrefix(status, "revoked"):
			status = st.red(status)
		default:
			status = st.dim(status)
		}
		fmt.Fprintf(w, "%s%s%s  %s%s  %q  (%s)%s\n", prefix, branch, st.bold(v.ID), v.Agent, owner, v.Purpose, status, budget)
		kids := children[v.ID]
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		for i, k := range kids {
			b := "├─ "
			if i == len(kids)-1 {
				b = "└─ "
			}
			walk(k, next, b)
		}
	}
	for _, r := range roots {
		walk(r, "", "")
	}
}

// serve adds the task API and the JWKS to the HTTP gateway, and rotates the
// signing key when it is due (checked hourly) until ctx ends.
func (p *taskParts) serve(ctx context.Context, api *server.Server, log *slog.Logger) {
	for pattern, h := range p.svc.Routes() {
		api.Handle(pattern, h)
	}
	api.Handle("GET /.well-known/jwks.json", keys.JWKSHandler(p.keys))
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := p.keys.MaybeRotate(ctx); err != nil {
					log.Error("keys: rotation failed; the current key stays in use", "error", err)
				}
			}
		}
	}()
}

// checkTasks wires the task stage for `toolgate check`: read-only, without
// budget. If the data directory's keys or store cannot be opened, a task
// token is denied with the reason (a decision, not an error).
func (g *globals) checkTasks(cfg *config.Config) (func(*enforce.Config), func()) {
	dataDir, err := g.dataDirFor(cfg, readData)
	var p *taskParts
	if err == nil {
		p, err = openTaskParts(cfg, dataDir, nil, readData)
	}
	if err != nil {
		return func(ec *enforce.Config) { ec.Task = failedTasks{err} }, func() {}
	}
	return func(ec *enforce.Config) { ec.Task = p.svc }, func() { p.Close() }
}
