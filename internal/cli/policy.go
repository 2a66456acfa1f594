package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/policytest"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Validate and test Cedar policies",
	}
	cmd.AddCommand(uses(newPolicyValidateCmd(g), useConfig), uses(newPolicyTestCmd(g), useConfig))
	return cmd
}

func newPolicyValidateCmd(g *globals) *cobra.Command {
	var schemaFile string
	cmd := &cobra.Command{
		Use:   "validate [--schema F] DIR...",
		Short: "Parse policies and check them (and, with --schema, type-check them)",
		Long: `validate parses every .cedar file below the directories, checks toolgate's
annotations (@id unique and non-empty, @approval only on forbid) and, with
--schema, type-checks every policy against a Cedar schema (Cedar syntax, or
JSON for files ending in .json). Every problem is printed as
file:line:col: message [code]; the exit status is 1 if there is any.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			srcs, err := policy.ReadDirs(dirs)
			if err != nil {
				return err
			}
			if len(srcs) == 0 {
				return fmt.Errorf("no .cedar files in %s", strings.Join(dirs, ", "))
			}
			set, err := policy.NewSet(policy.OrgLayer, srcs)
			if err != nil {
				return &exitError{code: ExitError, err: errors.New("invalid policies:\n" + err.Error())}
			}
			if schemaFile != "" {
				sc, err := policy.LoadSchema(schemaFile)
				if err != nil {
					return err
				}
				if err := set.Validate(sc); err != nil {
					return &exitError{code: ExitError, err: errors.New("policies do not match the schema:\n" + err.Error())}
				}
			}
			fmt.Fprintf(g.stdout, "ok: %d policies in %d files, version %s\n", set.Len(), len(srcs), set.Version)
			return nil
		},
	}
	cmd.Flags().StringVar(&schemaFile, "schema", "", "Cedar schema to type-check against (.cedarschema, or .json)")
	return cmd
}

func newPolicyTestCmd(g *globals) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test DIR...",
		Short: "Run policy test cases (*_test.yaml) against the policies in DIR",
		Long: `test loads the policies (*.cedar) below DIR and runs every test case in the
*_test.yaml files there. A test file holds:

  tests:
    - name: devops may read the workspace
      request:                      # an AuthZEN evaluation request
        subject:  {type: agent, id: ci-bot, properties: {groups: [devops]}}
        action:   {name: fs/read_file, properties: {annotations: {readOnlyHint: true}}}
        resource: {type: server, id: fs}
        context:  {input: {path: /workspace/README.md}}
      facts: {path: {inside: true}}  # optional: stands in for the classifiers
      expect: allow                 # allow | deny | ask
      policies: [fs-read-workspace] # optional: exactly the determining policies
      reason: "needs a DBA"          # optional: text the reason must contain

A failing case prints what was expected, what happened and why; the exit
status is 1 if any case fails. --config supplies servers (trust, labels,
annotation overrides) as in production.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			srcs, err := policy.ReadDirs(dirs)
			if err != nil {
				return err
			}
			set, err := policy.NewSet(policy.OrgLayer, srcs)
			if err != nil {
				return &exitError{code: ExitError, err: errors.New("invalid policies:\n" + err.Error())}
			}
			files, err := policytest.Discover(dirs)
			if err != nil {
				return err
			}
			if len(files) == 0 {
				return fmt.Errorf("no test files (*_test.yaml) in %s", strings.Join(dirs, ", "))
			}
			runner, err := policytest.NewRunner(set, cfg)
			if err != nil {
				return err
			}
			passed, failed := 0, 0
			for _, f := range files {
				cases, err := policytest.ReadFile(f)
				if err != nil {
					return err
				}
				for _, tc := range cases {
					r := runner.Run(tc)
					if r.Pass {
						passed++
						if verbose {
							fmt.Fprintf(g.stdout, "PASS %s:%d %s\n", r.File, r.Line, r.Name)
						}
						continue
					}
					failed++
					fmt.Fprintf(g.stdout, "FAIL %s:%d %s\n", r.File, r.Line, r.Name)
					for _, line := range strings.Split(r.Failure, "\n") {
						fmt.Fprintf(g.stdout, "     %s\n", line)
					}
				}
			}
			fmt.Fprintf(g.stdout, "%d passed, %d failed (policy version %s)\n", passed, failed, set.Version)
			if failed > 0 {
				return &exitError{code: ExitError}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print passing cases too")
	return cmd
}
