package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/authzen"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/facts"
	_ "github.com/toolgate/toolgate/internal/facts/all" // every classifier
	"github.com/toolgate/toolgate/internal/policy"
)

// Exit codes of `check --fail-on-deny`.
const (
	ExitDeny = 3
	ExitAsk  = 4
)

func newCheckCmd(g *globals) *cobra.Command {
	var policyDirs []string
	var format string
	var failOnDeny bool
	cmd := &cobra.Command{
		Use:   "check [--config F] [--policy DIR]... [REQUEST.json|-]",
		Short: "Decide one AuthZEN evaluation request and print the decision",
		Long: `check decides one AuthZEN evaluation request, read from the file given or from
standard input, with the policies of --policy (or of the config, or the
built-in set), and prints the decision as an AuthZEN response.

The output is the AuthZEN response as JSON when piped (or with --format
json), and a short summary on a terminal (or with --format text).

It exits 0 whatever the decision, unless --fail-on-deny: then 3 on deny and
4 on ask, for scripts and CI. It exits 1 when the request or the policies
cannot be read, 2 on a usage error. It records nothing in the audit trail.

Request:
  {"subject":  {"type": "agent", "id": "a1", "properties": {"groups": ["devops"]}},
   "action":   {"name": "fs/read_file"},
   "resource": {"type": "server", "id": "fs"},
   "context":  {"input": {"path": "/workspace/notes.md"}}}`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "":
				format = "json"
				if g.style().tty {
					format = "text"
				}
			case "json", "text":
			default:
				return usageError{fmt.Errorf("--format %q: want json or text", format)}
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if len(policyDirs) > 0 {
				cfg.Policy.Dirs = policyDirs
			}
			layers, err := policy.Load(cfg.Policy)
			if err != nil {
				return err
			}
			body, _, err := g.readInput(args, authzen.MaxRequestBytes)
			if err != nil {
				return err
			}
			req, err := authzen.ParseEvaluation(body)
			if err != nil {
				return err
			}
			c, err := req.Call(time.Now())
			if resp, ok := authzen.Unsupported(err); ok {
				return g.printCheck(resp, nil, format, failOnDeny)
			}
			if err != nil {
				return err
			}
			var opts []func(*enforce.Config)
			if c.TaskToken != "" {
				// A task token must verify against the data directory's keys
				// and task store; nothing is created there and no budget is
				// spent (check is a dry run).
				opt, done := g.checkTasks(cfg)
				defer done()
				opts = append(opts, opt)
			}
			pipe, err := newPipeline(cfg, policy.NewStaticEngine(layers...), opts...)
			if err != nil {
				return err
			}
			return g.printCheck(authzen.Response(pipe.Decide(context.Background(), c)), c, format, failOnDeny)
		},
	}
	cmd.Flags().StringArrayVar(&policyDirs, "policy", nil, "policy directory or .cedar file (repeatable); replaces the config's policy.dirs")
	cmd.Flags().StringVar(&format, "format", "", "output: json (the AuthZEN response) or text (default: text on a terminal, else json)")
	cmd.Flags().BoolVar(&failOnDeny, "fail-on-deny", false, "exit 3 if the decision is deny and 4 if it is ask")
	return cmd
}

// printCheck prints the decision and returns the exit status it calls for.
// c is the call decided (nil if the request was not about a tool call).
func (g *globals) printCheck(resp *authzen.EvaluationResponse, c *call.Call, format string, failOnDeny bool) error {
	if format == "json" {
		if err := writeJSON(g.stdout, resp); err != nil {
			return err
		}
	} else {
		printDecision(g.stdout, g.style(), resp, c)
	}
	if !failOnDeny {
		return nil
	}
	switch resp.Context.Effect {
	case call.Allow:
		return nil
	case call.Ask:
		return &exitError{code: ExitAsk}
	}
	return &exitError{code: ExitDeny}
}

// printDecision is check's summary for people.
func printDecision(w io.Writer, st style, resp *authzen.EvaluationResponse, c *call.Call) {
	rc := resp.Context
	head := st.bold(strings.ToUpper(string(rc.Effect)))
	switch rc.Effect {
	case call.Allow:
		head = st.green(head)
	case call.Ask:
		head = st.yellow(head)
	default:
		head = st.red(head)
	}
	if c != nil {
		fmt.Fprintf(w, "%s  %s::%q calls %s on Server::%q\n", head, principalType(c.Principal), c.Principal.ID, c.Action(), c.Server.Name)
	} else {
		fmt.Fprintln(w, head)
	}
	t := st.newTable()
	if len(rc.Policies) > 0 {
		p := strings.Join(rc.Policies, ", ")
		if rc.Layer != "" {
			p += " (layer " + rc.Layer + ")"
		}
		t.add("  policies", p)
	} else if rc.Effect != call.Allow {
		t.add("  policies", st.dim("none permits it"))
	}
	if text := rc.ReasonUser["en"]; text != "" {
		t.add("  reason", text)
	}
	for _, r := range rc.Reasons {
		if r.Code != "" {
			t.add("  code", r.Code)
			break
		}
	}
	for _, d := range rc.Diagnostics {
		t.add("  "+st.yellow("diagnostic"), d.Message)
	}
	if rc.Stage != "" {
		t.add("  stage", rc.Stage)
	}
	t.add("  decision", st.dim(rc.DecisionID))
	_ = t.write(w)
}

// newPipeline wires a decision pipeline from the configuration. Stages that
// later issues add (tasks, facts, history, approvals, credentials) are wired
// here as they land.
func newPipeline(cfg *config.Config, policies enforce.Policies, opts ...func(*enforce.Config)) (*enforce.Pipeline, error) {
	finder, err := facts.NewFinder(cfg.FactServers())
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	ec := enforce.Config{
		Catalog:  catalog.New(cfg),
		Facts:    finder,
		Policies: policies,
		Limits:   cfg.InputLimits(),
	}
	for _, o := range opts {
		o(&ec)
	}
	return enforce.New(ec)
}
