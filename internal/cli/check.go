package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/authzen"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/facts"
	_ "github.com/toolgate/toolgate/internal/facts/all" // every classifier
	"github.com/toolgate/toolgate/internal/policy"
)

func newCheckCmd(g *globals) *cobra.Command {
	var policyDirs []string
	cmd := &cobra.Command{
		Use:   "check [--config F] [--policy DIR]... [REQUEST.json|-]",
		Short: "Decide one AuthZEN evaluation request and print the decision",
		Long: `check decides one AuthZEN evaluation request, read from the file given or from
standard input, with the policies of --policy (or of the config, or the
built-in set), and prints the decision as an AuthZEN response.

It exits 0 whatever the decision; non-zero only when the request or the
policies cannot be read. It records nothing in the audit trail.

Request:
  {"subject":  {"type": "agent", "id": "a1", "properties": {"groups": ["devops"]}},
   "action":   {"name": "fs/read_file"},
   "resource": {"type": "server", "id": "fs"},
   "context":  {"input": {"path": "/workspace/notes.md"}}}`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			c, err := req.Call(time.Now())
			if resp, ok := authzen.Unsupported(err); ok {
				return enc.Encode(resp)
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
			return enc.Encode(authzen.Response(pipe.Decide(context.Background(), c)))
		},
	}
	cmd.Flags().StringArrayVar(&policyDirs, "policy", nil, "policy directory or .cedar file (repeatable); replaces the config's policy.dirs")
	return cmd
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
