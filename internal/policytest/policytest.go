// Package policytest runs policy test cases: YAML files of AuthZEN requests
// with the expected effect and, optionally, the determining policies. It is
// what `toolgate policy test` runs, so policy authors can test a policy
// change the way they test code.
package policytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/toolgate/toolgate/internal/authzen"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/facts"
	"github.com/toolgate/toolgate/internal/policy"
)

// File is one test file.
type File struct {
	// Servers give classifier options (roots, home_dir, allowed_hosts,
	// sql_dialect) of configured servers for this file's cases, in place of
	// the configuration's: cases written for a workspace at /workspace then
	// hold wherever the configuration puts it. Bindings and everything else
	// still come from the configuration.
	Servers map[string]struct {
		Facts facts.ServerConfig `yaml:"facts"`
	} `yaml:"servers"`
	Tests []Case `yaml:"tests"`
}

// Case is one test case.
type Case struct {
	Name string `yaml:"name"`
	// Request is an AuthZEN evaluation request.
	Request map[string]any `yaml:"request"`
	// Expect is allow, deny or ask.
	Expect string `yaml:"expect"`
	// Policies, when given, must be exactly the determining policies.
	Policies []string `yaml:"policies"`
	// Reason, when given, must appear in the decision's reason text.
	Reason string `yaml:"reason"`
	// Facts and Flow stand in for the facts and history stages, so a
	// policy can be tested on its own.
	Facts map[string]any `yaml:"facts"`
	Flow  *struct {
		Untrusted    bool                     `yaml:"untrusted"`
		Private      bool                     `yaml:"private"`
		Tainted      []string                 `yaml:"tainted"`
		TaintedLinks []string                 `yaml:"tainted_links"`
		Trusted      []string                 `yaml:"trusted"`
		Sources      map[string][]call.Source `yaml:"sources"`
	} `yaml:"flow"`
	// Windows stand in for the history stage's windows
	// (context.windows.<name>).
	Windows map[string]any `yaml:"windows"`
	// Now fixes context.system.now (RFC 3339).
	Now string `yaml:"now"`

	file string
	line int
	// serverFacts are the file's classifier options (File.Servers).
	serverFacts map[string]facts.ServerConfig
}

// Result is the outcome of one case.
type Result struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Name string `json:"name"`
	// Server is the server the request is about ("" if it could not be
	// read).
	Server string `json:"server,omitempty"`
	Pass   bool   `json:"pass"`
	// Failure explains a failed case: expected vs actual and why.
	Failure string `json:"failure,omitempty"`
}

// IsTestFile tells test files from other files.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}

// Discover finds the test files below dirs.
func Discover(dirs []string) ([]string, error) {
	var out []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && IsTestFile(d.Name()) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// ReadFile parses a test file, keeping each case's line for messages.
func ReadFile(path string) ([]Case, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := config.DecodeStrict(path, b, &f); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: no tests (expected a top-level \"tests:\" list)", path)
	}
	root := doc.Content[0]
	// Line of each case: the items of the "tests" sequence.
	var lines []int
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "tests" && root.Content[i+1].Kind == yaml.SequenceNode {
			for _, item := range root.Content[i+1].Content {
				lines = append(lines, item.Line)
			}
		}
	}
	var serverFacts map[string]facts.ServerConfig
	for name, s := range f.Servers {
		if serverFacts == nil {
			serverFacts = map[string]facts.ServerConfig{}
		}
		serverFacts[name] = s.Facts
	}
	for i := range f.Tests {
		f.Tests[i].file = path
		f.Tests[i].serverFacts = serverFacts
		if i < len(lines) {
			f.Tests[i].line = lines[i]
		}
	}
	if len(f.Tests) == 0 {
		return nil, fmt.Errorf("%s: no tests (expected a top-level \"tests:\" list)", path)
	}
	return f.Tests, nil
}

// Runner runs cases against one policy set.
type Runner struct {
	cfg     *config.Config
	catalog *catalog.Catalog
	engine  *policy.Engine
	finder  *facts.Finder
	// byFile are the finders of files with their own classifier options.
	byFile map[string]*facts.Finder
}

// finderFor is the facts finder of tc's file: the configuration's, with
// the file's classifier options in place of the configured ones.
func (r *Runner) finderFor(tc Case) (*facts.Finder, error) {
	if len(tc.serverFacts) == 0 {
		return r.finder, nil
	}
	if f := r.byFile[tc.file]; f != nil {
		return f, nil
	}
	servers := r.cfg.FactServers()
	for name, opts := range tc.serverFacts {
		i := slices.IndexFunc(servers, func(s facts.ServerFacts) bool { return s.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("servers.%s: the configuration has no server %q", name, name)
		}
		c := &servers[i].Config
		if opts.Roots != nil {
			c.Roots = opts.Roots
		}
		if opts.HomeDir != "" {
			c.HomeDir = opts.HomeDir
		}
		if opts.AllowedHosts != nil {
			c.AllowedHosts = opts.AllowedHosts
		}
		if opts.SQLDialect != "" {
			c.SQLDialect = opts.SQLDialect
		}
	}
	f, err := facts.NewFinder(servers)
	if err != nil {
		return nil, fmt.Errorf("servers: %v", err)
	}
	if r.byFile == nil {
		r.byFile = map[string]*facts.Finder{}
	}
	r.byFile[tc.file] = f
	return f, nil
}

// NewRunner builds decision-only pipelines over set and cfg: the classifiers
// bound in cfg compute facts, as in production, unless a case stubs them.
func NewRunner(set *policy.Set, cfg *config.Config) (*Runner, error) {
	finder, err := facts.NewFinder(cfg.FactServers())
	if err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, catalog: catalog.New(cfg), engine: policy.NewStaticEngine(set), finder: finder}, nil
}

// stubFacts runs the real classifiers, then puts the case's facts on top.
type stubFacts struct {
	real *facts.Finder
	stub map[string]any
}

func (s stubFacts) FindFacts(ctx context.Context, c *call.Call) error {
	if err := s.real.FindFacts(ctx, c); err != nil {
		return err
	}
	for k, v := range s.stub {
		if c.Facts == nil {
			c.Facts = map[string]any{}
		}
		c.Facts[k] = v
	}
	return nil
}

// Run runs one case.
func (r *Runner) Run(tc Case) Result {
	res := Result{File: tc.file, Line: tc.line, Name: tc.Name}
	fail := func(format string, args ...any) Result {
		res.Failure = fmt.Sprintf(format, args...)
		return res
	}
	switch tc.Expect {
	case "allow", "deny", "ask":
	default:
		return fail("expect must be allow, deny or ask, not %q", tc.Expect)
	}
	body, err := json.Marshal(tc.Request)
	if err != nil {
		return fail("request: %v", err)
	}
	req, err := authzen.ParseEvaluation(body)
	if err != nil {
		return fail("request: %v", err)
	}
	now := time.Now()
	if tc.Now != "" {
		if now, err = time.Parse(time.RFC3339, tc.Now); err != nil {
			return fail("now: %v", err)
		}
	}
	c, err := req.Call(now)
	if err != nil {
		return fail("request: %v", err)
	}
	res.Server = c.Server.Name
	finder, err := r.finderFor(tc)
	if err != nil {
		return fail("%v", err)
	}
	pipe, err := enforce.New(enforce.Config{
		Catalog:  r.catalog,
		Facts:    stubFacts{real: finder, stub: tc.Facts},
		Policies: r.engine,
		Limits:   r.cfg.InputLimits(),
	})
	if err != nil {
		return fail("%v", err)
	}
	d := pipe.Decide(context.Background(), withFlow(c, tc))
	pass := string(d.Effect) == tc.Expect
	if pass && tc.Policies != nil {
		got, want := slices.Clone(d.Policies), slices.Clone(tc.Policies)
		sort.Strings(got)
		sort.Strings(want)
		pass = slices.Equal(got, want)
	}
	if pass && tc.Reason != "" {
		pass = strings.Contains(d.ReasonText(), tc.Reason)
	}
	if pass {
		res.Pass = true
		return res
	}
	want := tc.Expect
	if tc.Policies != nil {
		want += fmt.Sprintf(" (policies %v)", tc.Policies)
	}
	if tc.Reason != "" {
		want += fmt.Sprintf(" (reason containing %q)", tc.Reason)
	}
	why := d.ReasonText()
	if d.Effect == call.Allow {
		why = "permitted by " + strings.Join(quoteAll(d.Policies), ", ")
	}
	msg := fmt.Sprintf("expected: %s\nactual:   %s (policies %v)\nwhy:      %s", want, d.Effect, d.Policies, why)
	for _, dg := range d.Diagnostics {
		msg += "\nnote:     " + dg.Message
	}
	return fail("%s", msg)
}

// withFlow fills the flow and windows from the case; a real pipeline's
// history computes them.
func withFlow(c *call.Call, tc Case) *call.Call {
	if tc.Windows != nil {
		c.Windows = tc.Windows
	}
	if tc.Flow != nil {
		c.Flow = call.Flow{Untrusted: tc.Flow.Untrusted, Private: tc.Flow.Private, Tainted: tc.Flow.Tainted, TaintedLinks: tc.Flow.TaintedLinks, Trusted: tc.Flow.Trusted, Sources: tc.Flow.Sources}
	}
	return c
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
