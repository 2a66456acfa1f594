package facts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/toolgate/toolgate/internal/call"
)

// ServerConfig is the facts part of a server's configuration
// (servers[].facts): the options its classifiers run with, and whether
// arguments are bound to classifiers by their names when the configuration
// binds none.
type ServerConfig struct {
	// Auto binds classifiers to a tool's string arguments by name and
	// schema (Suggest) for tools without explicit bindings. Default false:
	// bindings are what the operator wrote.
	Auto bool `yaml:"auto"`
	// SQLDialect is "postgres" (default) or "mysql".
	SQLDialect string `yaml:"sql_dialect"`
	// Roots are the directories paths must stay inside ("inside").
	Roots []string `yaml:"roots"`
	// HomeDir replaces "~" in paths (default: the user's home).
	HomeDir string `yaml:"home_dir"`
	// AllowedHosts makes the url classifier report "allowed".
	AllowedHosts []string `yaml:"allowed_hosts"`
}

func (c ServerConfig) options() Options {
	return Options{Dialect: c.SQLDialect, Roots: c.Roots, HomeDir: c.HomeDir, AllowedHosts: c.AllowedHosts}
}

// Bindings bind classifiers to a tool's arguments (tools.<tool>.facts):
// classifier name → argument paths, dot-separated for nested objects
// ("options.path"). An argument holding an array of strings has each
// element classified.
type Bindings map[string][]string

// ServerFacts is one configured server for the Finder.
type ServerFacts struct {
	Name   string
	Config ServerConfig
	Tools  map[string]Bindings
}

// Finder is the facts stage of the pipeline: it runs the classifiers bound
// to the called tool's arguments and puts their merged results under
// context.facts.<classifier>.
type Finder struct {
	servers  map[string]*serverFinder
	fallback *serverFinder
}

type serverFinder struct {
	auto        bool
	tools       map[string]Bindings
	classifiers map[string]Classifier
}

// NewFinder builds every classifier the configuration can need, so that a
// bad option (an unknown dialect, a bad root, an unknown classifier name)
// fails at load time.
func NewFinder(servers []ServerFacts) (*Finder, error) {
	f := &Finder{servers: map[string]*serverFinder{}}
	var err error
	if f.fallback, err = newServerFinder("", ServerConfig{}, nil); err != nil {
		return nil, err
	}
	for _, s := range servers {
		sf, err := newServerFinder(s.Name, s.Config, s.Tools)
		if err != nil {
			return nil, err
		}
		f.servers[s.Name] = sf
	}
	return f, nil
}

func newServerFinder(name string, cfg ServerConfig, tools map[string]Bindings) (*serverFinder, error) {
	sf := &serverFinder{auto: cfg.Auto, tools: tools, classifiers: map[string]Classifier{}}
	for _, cname := range Names() {
		c, err := New(cname, cfg.options())
		if err != nil {
			return nil, fmt.Errorf("servers[%s].facts: %s: %w", name, cname, err)
		}
		sf.classifiers[cname] = c
	}
	for tool, b := range tools {
		for cname, paths := range b {
			if _, ok := sf.classifiers[cname]; !ok {
				return nil, fmt.Errorf("servers[%s].tools.%s.facts: unknown classifier %q (known: %s)", name, tool, cname, strings.Join(Names(), ", "))
			}
			if len(paths) == 0 {
				return nil, fmt.Errorf("servers[%s].tools.%s.facts.%s: names no argument", name, tool, cname)
			}
		}
	}
	return sf, nil
}

// FindFacts implements the pipeline's facts stage.
func (f *Finder) FindFacts(_ context.Context, c *call.Call) error {
	sf := f.servers[c.Server.Name]
	if sf == nil {
		sf = f.fallback
	}
	bindings := sf.tools[c.Tool.Name]
	if bindings == nil && !sf.auto {
		return nil
	}
	if len(bytes.TrimSpace(c.Input)) == 0 {
		return nil
	}
	// Arguments that are not an object are the decide stage's to reject.
	var args map[string]any
	dec := json.NewDecoder(bytes.NewReader(c.Input))
	dec.UseNumber()
	if err := dec.Decode(&args); err != nil || args == nil {
		return nil
	}
	if bindings == nil {
		bindings = suggested(c.Tool.InputSchema, args)
	}
	if len(bindings) == 0 {
		return nil
	}
	names := make([]string, 0, len(bindings))
	for n := range bindings {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, cname := range names {
		cl := sf.classifiers[cname]
		var results []Facts
		for _, path := range bindings[cname] {
			v, ok := lookup(args, path)
			if !ok {
				continue
			}
			switch v := v.(type) {
			case string:
				results = append(results, cl.Classify(v))
			case []any:
				for _, e := range v {
					if s, ok := e.(string); ok {
						results = append(results, cl.Classify(s))
					} else {
						results = append(results, Unanalysed(cname, fmt.Sprintf("argument %s: an element is not a string", path)))
					}
				}
			case nil:
				// null: as if absent.
			default:
				// A bound argument that is not text cannot be analysed;
				// say so rather than pretend it is harmless.
				results = append(results, Unanalysed(cname, fmt.Sprintf("argument %s is not a string", path)))
			}
		}
		if len(results) == 0 {
			continue
		}
		merged := results[0]
		if len(results) > 1 {
			merged = Merge(cname, results)
		}
		if c.Facts == nil {
			c.Facts = map[string]any{}
		}
		c.Facts[cname] = merged
	}
	return nil
}

// suggested binds top-level string arguments by name and schema.
func suggested(schema json.RawMessage, args map[string]any) Bindings {
	var props map[string]any
	if len(schema) > 0 {
		var s struct {
			Properties map[string]any `json:"properties"`
		}
		if json.Unmarshal(schema, &s) == nil {
			props = s.Properties
		}
	}
	b := Bindings{}
	for name := range args {
		ps, _ := props[name].(map[string]any)
		if cname := Suggest(name, ps); cname != "" {
			b[cname] = append(b[cname], name)
		}
	}
	for _, paths := range b {
		sort.Strings(paths)
	}
	return b
}

func lookup(args map[string]any, path string) (any, bool) {
	var cur any = args
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
