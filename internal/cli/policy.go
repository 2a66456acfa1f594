package cli

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/policytest"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Validate and test Cedar policies, and generate the schema to validate them against",
	}
	cmd.AddCommand(uses(newPolicyValidateCmd(g), useConfig), uses(newPolicyTestCmd(g), useConfig), uses(newPolicySchemaCmd(g), useConfig))
	return cmd
}

func newPolicyValidateCmd(g *globals) *cobra.Command {
	var schemaFile string
	cmd := &cobra.Command{
		Use:   "validate [--schema F] [DIR...]",
		Short: "Parse policies and check them (and, with --schema, type-check them)",
		Long: `validate parses every .cedar file below the directories, checks toolgate's
annotations (@id unique and non-empty, @approval only on forbid) and, with
--schema, type-checks every policy against a Cedar schema (Cedar syntax, or
JSON for files ending in .json; 'toolgate policy schema' writes the one of
the configured servers). Without DIR, the policies of the configuration are
checked, each layer (policy.dirs, policy.layers) on its own.

Every problem is printed as file:line:col: message [code], a parse error
with its line and a caret; the exit status is 1 if there is any.`,
		RunE: func(cmd *cobra.Command, dirs []string) error {
			type layer struct {
				name string
				dirs []string
			}
			var layers []layer
			if len(dirs) > 0 {
				if cmd.Flags().Changed("config") {
					return usageError{errors.New("give the policy directories or --config (whose policies are checked), not both")}
				}
				layers = []layer{{policy.OrgLayer, dirs}}
			} else {
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				if len(cfg.Policy.Dirs) == 0 && len(cfg.Policy.Layers) == 0 {
					if g.found.Path == "" {
						return usageError{errors.New("no policy directory: give DIR (no configuration file was found to take policy.dirs from)")}
					}
					return usageError{fmt.Errorf("no policy directory: give DIR, or set policy.dirs in %s", g.found.Path)}
				}
				if len(cfg.Policy.Dirs) > 0 {
					layers = append(layers, layer{policy.OrgLayer, cfg.Policy.Dirs})
				}
				for _, l := range cfg.Policy.Layers {
					layers = append(layers, layer{l.Name, l.Dirs})
				}
			}
			var sc *schema.Schema
			if schemaFile != "" {
				var err error
				if sc, err = policy.LoadSchema(schemaFile); err != nil {
					return err
				}
			}
			for _, l := range layers {
				srcs, err := policy.ReadDirs(l.dirs)
				if err != nil {
					return err
				}
				if len(srcs) == 0 {
					return fmt.Errorf("no .cedar files in %s", strings.Join(l.dirs, ", "))
				}
				set, err := policy.NewSet(l.name, srcs)
				if err != nil {
					return &exitError{code: ExitError, err: errors.New("invalid policies:\n" + policyErrors(err))}
				}
				if sc != nil {
					if err := set.Validate(sc); err != nil {
						return &exitError{code: ExitError, err: errors.New("policies do not match the schema:\n" + policyErrors(err))}
					}
				}
				where := ""
				if len(layers) > 1 || len(dirs) == 0 {
					where = " (layer " + l.name + ")"
				}
				fmt.Fprintf(g.stdout, "%s: %d policies in %d files, version %s%s\n", g.style().green("ok"), set.Len(), len(srcs), set.Version, where)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&schemaFile, "schema", "", "Cedar schema to type-check against (.cedarschema, or .json)")
	return cmd
}

func newPolicyTestCmd(g *globals) *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use:   "test [--format text|json|junit] DIR...",
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

The configuration supplies the servers (trust, labels, annotation
overrides, which argument each classifier reads) as in production. It is
--config, else $` + config.ConfigEnv + `, else the ` + config.FileName + ` in DIR or beside it (in
DIR's parent directory), else ./` + config.FileName + ` or the user's one.

A failing case prints what was expected, what happened and why; the exit
status is 1 if any case fails. --format json prints every result as JSON,
--format junit as a JUnit XML report for CI.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			switch format {
			case "text", "json", "junit":
			default:
				return usageError{fmt.Errorf("--format %q: want text, json or junit", format)}
			}
			found, err := configBeside(g.configFile, dirs)
			if err != nil {
				return err
			}
			cfg, err := g.loadFound(found)
			if err != nil {
				return err
			}
			srcs, err := policy.ReadDirs(dirs)
			if err != nil {
				return err
			}
			set, err := policy.NewSet(policy.OrgLayer, srcs)
			if err != nil {
				return &exitError{code: ExitError, err: errors.New("invalid policies:\n" + policyErrors(err))}
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
			var results []policytest.Result
			for _, f := range files {
				cases, err := policytest.ReadFile(f)
				if err != nil {
					return err
				}
				for _, tc := range cases {
					results = append(results, runner.Run(tc))
				}
			}
			rep := testReport{PolicyVersion: set.Version, Config: found.Path, Results: results}
			for _, r := range results {
				if r.Pass {
					rep.Passed++
				} else {
					rep.Failed++
				}
			}
			rep.Undescribed = undescribedServers(cfg, results)
			switch format {
			case "json":
				err = writeJSON(g.stdout, rep)
			case "junit":
				err = writeJUnit(g.stdout, rep)
			default:
				printTestReport(g.stdout, g.style(), rep, found, verbose)
			}
			if err != nil {
				return err
			}
			if rep.Failed > 0 {
				return &exitError{code: ExitError}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print passing cases too")
	cmd.Flags().StringVar(&format, "format", "text", "output: text, json or junit (JUnit XML)")
	return cmd
}

// configBeside is the configuration of a policy pack: --config, else
// $TOOLGATE_CONFIG, else a toolgate.yaml in one of the directories or
// beside it, else what config.Discover finds.
func configBeside(flag string, dirs []string) (config.Found, error) {
	if flag != "" || os.Getenv(config.ConfigEnv) != "" {
		return config.Discover(flag)
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			d = filepath.Dir(d) // a .cedar file: its directory
		}
		for _, c := range []string{filepath.Join(d, config.FileName), filepath.Join(filepath.Dir(filepath.Clean(d)), config.FileName)} {
			if st, err := os.Stat(c); err == nil && !st.IsDir() {
				return config.Found{Path: c, Source: "beside the policies"}, nil
			}
		}
	}
	return config.Discover("")
}

// testReport is the outcome of `policy test`.
type testReport struct {
	Passed        int    `json:"passed"`
	Failed        int    `json:"failed"`
	PolicyVersion string `json:"policy_version"`
	// Config is the configuration file used ("" for none).
	Config string `json:"config"`
	// Undescribed are the servers the cases call that the configuration
	// does not describe.
	Undescribed []string            `json:"undescribed_servers,omitempty"`
	Results     []policytest.Result `json:"results"`
}

// undescribedServers are the servers of results that cfg has no entry for.
func undescribedServers(cfg *config.Config, results []policytest.Result) []string {
	var out []string
	for _, r := range results {
		if r.Server != "" && cfg.Server(r.Server) == nil && !slices.Contains(out, r.Server) {
			out = append(out, r.Server)
		}
	}
	sort.Strings(out)
	return out
}

func printTestReport(w io.Writer, st style, rep testReport, found config.Found, verbose bool) {
	for _, r := range rep.Results {
		if r.Pass {
			if verbose {
				fmt.Fprintf(w, "%s %s:%d %s\n", st.green("PASS"), r.File, r.Line, r.Name)
			}
			continue
		}
		fmt.Fprintf(w, "%s %s:%d %s\n", st.red("FAIL"), r.File, r.Line, r.Name)
		for _, line := range strings.Split(r.Failure, "\n") {
			fmt.Fprintf(w, "     %s\n", line)
		}
	}
	summary := fmt.Sprintf("%d passed, %d failed", rep.Passed, rep.Failed)
	if rep.Failed > 0 {
		summary = st.red(summary)
	} else {
		summary = st.green(summary)
	}
	fmt.Fprintf(w, "%s (policy version %s; config: %s)\n", summary, rep.PolicyVersion, found)
	if rep.Failed > 0 && len(rep.Undescribed) > 0 {
		// The usual cause of a pack failing wholesale: its configuration
		// (which arguments the classifiers read, annotations, trust) was
		// not used.
		where := "no configuration file was used"
		if found.Path != "" {
			where = found.Path + " does not describe them"
		}
		fmt.Fprintf(w, "%s the cases call server %s, and %s: if the policies rely on its facts bindings, annotations or trust, put the pack's %s beside the policies or pass --config\n",
			st.yellow("note:"), strings.Join(rep.Undescribed, ", "), where, config.FileName)
	}
}

// JUnit XML, the report format CI systems read.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func writeJUnit(w io.Writer, rep testReport) error {
	out := junitSuites{Name: "toolgate policy test", Tests: len(rep.Results), Failures: rep.Failed}
	for _, r := range rep.Results {
		if len(out.Suites) == 0 || out.Suites[len(out.Suites)-1].Name != r.File {
			out.Suites = append(out.Suites, junitSuite{Name: r.File})
		}
		s := &out.Suites[len(out.Suites)-1]
		s.Tests++
		c := junitCase{Name: r.Name, Classname: r.File, File: r.File, Line: r.Line}
		if !r.Pass {
			s.Failures++
			lines := strings.SplitN(r.Failure, "\n", 3)
			c.Failure = &junitFailure{Message: strings.Join(lines[:min(2, len(lines))], "; "), Text: r.Failure}
		}
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// policyErrors writes policy errors one per line, each parse error followed
// by its source line with a caret under the place.
func policyErrors(err error) string {
	var es policy.Errors
	if !errors.As(err, &es) {
		var e *policy.Error
		if !errors.As(err, &e) {
			return err.Error()
		}
		es = policy.Errors{e}
	}
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
		if s := e.Snippet(); s != "" {
			b.WriteString("\n" + s)
		}
	}
	return b.String()
}
