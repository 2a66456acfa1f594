// Package config reads toolgate's one YAML configuration file. Each part of
// the file belongs to the package that uses it (policy.Config, audit.Config,
// …); this package composes them, applies defaults and validates the whole,
// reporting every problem with its file, line and key path.
package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/console"
	"github.com/toolgate/toolgate/internal/credential"
	"github.com/toolgate/toolgate/internal/facts"
	"github.com/toolgate/toolgate/internal/frontdoor"
	"github.com/toolgate/toolgate/internal/history"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/task"
)

// DefaultListen is where `toolgate serve` listens without configuration:
// loopback only, so nothing is exposed by accident.
const DefaultListen = "127.0.0.1:8470"

// Config is the whole configuration file.
type Config struct {
	// DataDir holds toolgate's state (audit trail, keys, database).
	DataDir string `yaml:"data_dir"`
	// Store is where the state lives: "sqlite" (the default: the SQLite
	// database and key files of the data directory, for one host) or a
	// PostgreSQL URL (postgres://…), shared by replicas. TOOLGATE_STORE
	// overrides it.
	Store string `yaml:"store"`
	// StoreMigrate is "auto" (the default: a PostgreSQL store's schema is
	// brought up to date at start) or "off" (an operator runs `toolgate
	// store migrate`; toolgate refuses to start on an outdated schema).
	StoreMigrate string `yaml:"store_migrate"`
	Listen       string `yaml:"listen"`
	// HTTP is the front door of `toolgate serve`: Host and Origin policy,
	// content types, read timeouts and body limits, for every route.
	HTTP   frontdoor.Config `yaml:"http"`
	Log    LogConfig        `yaml:"log"`
	Policy policy.Config    `yaml:"policy"`
	Audit  audit.Config     `yaml:"audit"`
	Limits LimitsConfig     `yaml:"limits"`
	// Principal is the identity of calls that arrive unauthenticated on a
	// local transport (stdio). Without it `toolgate run` uses Agent::"local"
	// acting for the OS user; the HTTP front doors deny such calls.
	Principal *PrincipalConfig `yaml:"principal"`
	Servers   []ServerConfig   `yaml:"servers"`
	// MCP configures the MCP proxy (`toolgate run`).
	MCP mcp.Config `yaml:"mcp"`
	// Identity verifies callers' identity tokens and API keys.
	Identity identity.Config `yaml:"identity"`
	// Keys are toolgate's own signing keys (task tokens, credentials).
	Keys keys.Config `yaml:"keys"`
	// Tasks configures tasks, delegation and budgets.
	Tasks task.Config `yaml:"tasks"`
	// Approvals configures human approval of "ask" calls.
	Approvals approval.Config `yaml:"approvals"`
	// History configures the history stage: retention, bounds and the
	// time windows exposed as context.windows.
	History history.Config `yaml:"history"`
	// Credentials configures what an allowed call carries to its server:
	// per-call tokens, brokered secrets, token exchange.
	Credentials credential.Config `yaml:"credentials"`
	// Console configures the web console of `toolgate serve` (/console).
	Console console.Config `yaml:"console"`

	// file is where the config was read from ("" for defaults).
	file string
}

// LogConfig controls structured logs (on stderr).
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// LimitsConfig bounds the work done on one call's arguments.
type LimitsConfig struct {
	InputBytes  int `yaml:"input_bytes"`
	InputDepth  int `yaml:"input_depth"`
	InputValues int `yaml:"input_values"`
}

// PrincipalConfig names a principal.
type PrincipalConfig struct {
	Kind   string         `yaml:"kind"` // agent | user
	ID     string         `yaml:"id"`
	Groups []string       `yaml:"groups"`
	Owner  string         `yaml:"owner"`
	Claims map[string]any `yaml:"claims"`
}

// ServerConfig describes one upstream tool server.
type ServerConfig struct {
	Name string `yaml:"name"`
	// Command and Args start a stdio server.
	Command string   `yaml:"command"`
	Args    []string `yaml:"args"`
	// URL names a remote Streamable HTTP server.
	URL string `yaml:"url"`
	// Trust is "trusted" or "untrusted" (default): Server::"<name>".trust.
	Trust  string   `yaml:"trust"`
	Labels []string `yaml:"labels"`
	// Tools overrides what the server says about its tools.
	Tools map[string]ToolConfig `yaml:"tools"`
	// Facts sets the options of the argument classifiers for this server.
	Facts facts.ServerConfig `yaml:"facts"`
}

// ToolConfig overrides one tool's annotations and adds labels.
type ToolConfig struct {
	Annotations call.Annotations `yaml:"annotations"`
	// Labels add Action::"<label>" groups to the tool's action.
	Labels []string `yaml:"labels"`
	// Facts binds classifiers to arguments: {sql: [query]}.
	Facts facts.Bindings `yaml:"facts"`
	// Outputs label fields of the tool's output for the history stage:
	// {"transactions[].subject": untrusted, "transactions[].recipient":
	// trusted} (docs/history.md).
	Outputs map[string]string `yaml:"outputs"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

// File is the path the config was read from, "" for defaults.
func (c *Config) File() string { return c.file }

// Load reads, defaults and validates a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(path, b)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Parse reads a config from bytes; name is used in messages.
func Parse(name string, b []byte) (*Config, error) {
	c := &Config{file: name}
	root, err := decodeStrict(name, b, c)
	if err != nil {
		return nil, err
	}
	c.resolvePaths(filepath.Dir(name))
	c.applyDefaults()
	if probs := c.problems(); len(probs) > 0 {
		// Each problem where its key is in the file (or its parent, for a
		// required key that is missing).
		type placed struct {
			line, col int
			text      string
		}
		out := make([]placed, len(probs))
		for i, p := range probs {
			path, _, _ := strings.Cut(p, ": ")
			out[i] = placed{text: name + ": " + p}
			if n := locate(root, path); n != nil {
				out[i] = placed{n.Line, n.Column, fmt.Sprintf("%s:%d:%d: %s", name, n.Line, n.Column, p)}
			}
		}
		sort.SliceStable(out, func(i, j int) bool {
			return out[i].line < out[j].line || out[i].line == out[j].line && out[i].col < out[j].col
		})
		for i := range out {
			probs[i] = out[i].text
		}
		return nil, errors.New(strings.Join(probs, "\n"))
	}
	return c, nil
}

// resolvePaths makes relative paths in the file relative to the file, so a
// config means the same whatever directory toolgate starts in.
func (c *Config) resolvePaths(base string) {
	abs := func(p string) string {
		if p == "" || p == "-" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.DataDir = abs(c.DataDir)
	c.Audit.Path = abs(c.Audit.Path)
	for i, d := range c.Policy.Dirs {
		c.Policy.Dirs[i] = abs(d)
	}
	for i := range c.Servers {
		for j, r := range c.Servers[i].Facts.Roots {
			if !strings.HasPrefix(r, "~") {
				c.Servers[i].Facts.Roots[j] = abs(r)
			}
		}
	}
	for i := range c.Policy.Layers {
		for j, d := range c.Policy.Layers[i].Dirs {
			c.Policy.Layers[i].Dirs[j] = abs(d)
		}
	}
	// Secret files and the TLS key pair.
	c.Credentials.Vault.Token.File = abs(c.Credentials.Vault.Token.File)
	if c.Console.OIDC != nil {
		c.Console.OIDC.ClientSecretFile = abs(c.Console.OIDC.ClientSecretFile)
	}
	for name, sc := range c.Credentials.Servers {
		sc.Secrets = slices.Clone(sc.Secrets)
		for i := range sc.Secrets {
			sc.Secrets[i].From.File = abs(sc.Secrets[i].From.File)
		}
		if sc.Exchange != nil {
			ex := *sc.Exchange
			ex.ClientSecret.File = abs(ex.ClientSecret.File)
			sc.Exchange = &ex
		}
		c.Credentials.Servers[name] = sc
	}
	c.MCP.Gateway.TLSCertFile = abs(c.MCP.Gateway.TLSCertFile)
	c.MCP.Gateway.TLSKeyFile = abs(c.MCP.Gateway.TLSKeyFile)
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Audit.Sink == "" {
		c.Audit.Sink = "sqlite"
	}
	d := cedarjson.DefaultLimits()
	if c.Limits.InputBytes == 0 {
		c.Limits.InputBytes = d.MaxBytes
	}
	if c.Limits.InputDepth == 0 {
		c.Limits.InputDepth = d.MaxDepth
	}
	if c.Limits.InputValues == 0 {
		c.Limits.InputValues = d.MaxValues
	}
	for i := range c.Servers {
		if c.Servers[i].Trust == "" {
			c.Servers[i].Trust = "untrusted"
		}
	}
	c.MCP.ApplyDefaults()
	// mcp.gateway.allowed_hosts and allowed_origins came first; they are
	// the same lists as http's, for every route.
	c.HTTP.AllowedHosts = appendNew(c.HTTP.AllowedHosts, c.MCP.Gateway.AllowedHosts...)
	c.HTTP.AllowedOrigins = appendNew(c.HTTP.AllowedOrigins, c.MCP.Gateway.AllowedOrigins...)
	if c.HTTP.MaxBodyBytes == 0 {
		// A message the MCP gateway takes must get past the door.
		c.HTTP.MaxBodyBytes = max(frontdoor.DefaultMaxBodyBytes, int64(c.MCP.MaxMessageBytes))
	}
	c.HTTP.ApplyDefaults()
	c.Identity.ApplyDefaults()
	c.Keys.ApplyDefaults()
	c.Tasks.ApplyDefaults()
	c.Approvals.ApplyDefaults()
	c.History.ApplyDefaults()
	c.Credentials.ApplyDefaults()
	c.Console.ApplyDefaults()
	if c.Principal != nil && c.Principal.Kind == "" {
		c.Principal.Kind = string(call.KindAgent)
	}
}

// appendNew appends the items of add that list does not have yet.
func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if !contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

// issuerAccepts tells whether identity.issuers has issuer with audience
// among its audiences.
func (c *Config) issuerAccepts(issuer, audience string) bool {
	for _, is := range c.Identity.Issuers {
		if is.Issuer == issuer && slices.Contains(is.Audience, audience) {
			return true
		}
	}
	return false
}

// InputLimits converts the limits for the converter.
func (c *Config) InputLimits() cedarjson.Limits {
	return cedarjson.Limits{MaxBytes: c.Limits.InputBytes, MaxDepth: c.Limits.InputDepth, MaxValues: c.Limits.InputValues}
}

// Server returns the named server's config, or nil.
func (c *Config) Server(name string) *ServerConfig {
	for i := range c.Servers {
		if c.Servers[i].Name == name {
			return &c.Servers[i]
		}
	}
	return nil
}

var toolName = regexp.MustCompile(`^[A-Za-z0-9_.\-/]{1,128}$`)

// Validate checks the whole config and reports every problem.
func (c *Config) Validate() error {
	errs := c.problems()
	if len(errs) == 0 {
		return nil
	}
	prefix := c.file
	if prefix == "" {
		prefix = "config"
	}
	for i := range errs {
		errs[i] = prefix + ": " + errs[i]
	}
	return errors.New(strings.Join(errs, "\n"))
}

// problems are the config's problems, each "key.path: message".
func (c *Config) problems() []string {
	var errs []string
	bad := func(path, format string, args ...any) {
		errs = append(errs, path+": "+fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port", c.Listen)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if err := c.Policy.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := checkStore(c.Store); err != nil {
		bad("store", "%v", err)
	}
	switch c.StoreMigrate {
	case "", "auto", "off":
	default:
		bad("store_migrate", "%q is not auto or off", c.StoreMigrate)
	}
	if !contains(audit.Names(), c.Audit.Sink) {
		bad("audit.sink", "unknown sink %q (known: %s)", c.Audit.Sink, strings.Join(audit.Names(), ", "))
	}
	if mode, err := c.Audit.DurabilityMode(); err != nil {
		bad("audit.durability", "%q is not flush or os", c.Audit.Durability)
	} else if mode == audit.DurabilityOS && IsPostgres(c.Store) && c.Audit.Sink == "sqlite" {
		bad("audit.durability", "os is for a trail in the data directory; with a PostgreSQL store every record is committed by the database (its synchronous_commit says how durably)")
	}
	if c.Limits.InputBytes < 0 || c.Limits.InputDepth < 0 || c.Limits.InputValues < 0 {
		bad("limits", "limits must be positive")
	}
	if c.Limits.InputDepth > 1000 {
		bad("limits.input_depth", "%d is more than the maximum of 1000", c.Limits.InputDepth)
	}
	if p := c.Principal; p != nil {
		if p.Kind != string(call.KindAgent) && p.Kind != string(call.KindUser) {
			bad("principal.kind", "%q is not agent or user", p.Kind)
		}
		if p.ID == "" {
			bad("principal.id", "is required")
		}
	}
	for _, e := range c.HTTP.Validate() {
		errs = append(errs, "http."+e)
	}
	if c.HTTP.MaxBodyBytes < int64(c.MCP.MaxMessageBytes) {
		bad("http.max_body_bytes", "%d is less than mcp.max_message_bytes %d: messages the gateway takes could not get in", c.HTTP.MaxBodyBytes, c.MCP.MaxMessageBytes)
	}
	for _, e := range c.MCP.Validate() {
		errs = append(errs, "mcp."+e)
	}
	for _, e := range c.Identity.Validate() {
		errs = append(errs, "identity."+e)
	}
	for _, e := range c.Keys.Validate() {
		errs = append(errs, "keys."+e)
	}
	for _, e := range c.Tasks.Validate() {
		errs = append(errs, "tasks."+e)
	}
	for _, e := range c.Approvals.Validate() {
		errs = append(errs, "approvals."+e)
	}
	for _, e := range c.History.Validate() {
		errs = append(errs, "history."+e)
	}
	for _, e := range c.Credentials.Validate() {
		errs = append(errs, "credentials."+e)
	}
	for _, e := range c.Console.Validate() {
		errs = append(errs, "console."+e)
	}
	if o := c.Console.OIDC; o != nil && o.Issuer != "" && o.ClientID != "" && !c.issuerAccepts(o.Issuer, o.ClientID) {
		bad("console.oidc", "the issuer %q with audience %q must also be in identity.issuers: the ID tokens people sign in with are verified and mapped to principals there", o.Issuer, o.ClientID)
	}
	for _, e := range c.Credentials.ValidateServers(c.credentialTransports()) {
		errs = append(errs, "credentials."+e)
	}
	if longest := c.Credentials.LongestTTL(); c.Keys.Retain < longest {
		bad("keys.retain", "%s is less than the longest per-call token lifetime %s (credentials.ttl)", c.Keys.Retain, longest)
	}
	if c.Keys.Retain < c.Tasks.MaxTTL {
		bad("keys.retain", "%s is less than tasks.max_ttl %s: task tokens would stop verifying before they expire", c.Keys.Retain, c.Tasks.MaxTTL)
	}
	seen := map[string]int{}
	for i, s := range c.Servers {
		at := fmt.Sprintf("servers[%d]", i)
		if err := policy.CheckServerName(s.Name); err != nil {
			bad(at+".name", "%v", err)
		} else if j, dup := seen[s.Name]; dup {
			bad(at+".name", "%q is already the name of servers[%d]", s.Name, j)
		} else {
			seen[s.Name] = i
		}
		if s.Command != "" && s.URL != "" {
			bad(at, "has both command and url; a server is either started (command) or remote (url)")
		}
		if s.Command == "" && len(s.Args) > 0 {
			bad(at+".args", "given without a command")
		}
		switch s.Trust {
		case "trusted", "untrusted":
		default:
			bad(at+".trust", "%q is not trusted or untrusted", s.Trust)
		}
		for j, l := range s.Labels {
			if err := policy.CheckLabel(l); err != nil {
				bad(fmt.Sprintf("%s.labels[%d]", at, j), "%v", err)
			}
		}
		names := make([]string, 0, len(s.Tools))
		for n := range s.Tools {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if !toolName.MatchString(n) {
				bad(at+".tools", "%q is not a valid tool name", n)
			}
			for j, l := range s.Tools[n].Labels {
				if err := policy.CheckLabel(l); err != nil {
					bad(fmt.Sprintf("%s.tools.%s.labels[%d]", at, n, j), "%v", err)
				}
			}
			for _, f := range slices.Sorted(maps.Keys(s.Tools[n].Outputs)) {
				if err := history.CheckFieldPattern(f); err != nil {
					bad(fmt.Sprintf("%s.tools.%s.outputs", at, n), "%v", err)
				}
				switch l := s.Tools[n].Outputs[f]; l {
				case history.FieldUntrusted, history.FieldTrusted:
				default:
					bad(fmt.Sprintf("%s.tools.%s.outputs[%q]", at, n, f), "%q is not %s or %s", l, history.FieldUntrusted, history.FieldTrusted)
				}
			}
		}
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// StoreEnv names the environment variable that overrides store:.
const StoreEnv = "TOOLGATE_STORE"

// StoreSQLite is the embedded store, in the data directory.
const StoreSQLite = "sqlite"

// ResolveStore is the store to use: TOOLGATE_STORE, else the config's
// store:, else sqlite. It is "sqlite" or a PostgreSQL URL.
func ResolveStore(cfg *Config) (string, error) {
	s := os.Getenv(StoreEnv)
	where := StoreEnv
	if s == "" && cfg != nil {
		s, where = cfg.Store, "store"
	}
	if s == "" {
		return StoreSQLite, nil
	}
	if err := checkStore(s); err != nil {
		return "", fmt.Errorf("%s: %v", where, err)
	}
	return s, nil
}

// IsPostgres tells whether a resolved store is a PostgreSQL URL.
func IsPostgres(store string) bool { return store != "" && store != StoreSQLite }

func checkStore(s string) error {
	if s == "" || s == StoreSQLite {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The value may hold a password: do not repeat it.
		return errors.New(`is neither "sqlite" nor a postgres:// URL`)
	}
	return nil
}

// DataDirEnv names the environment variable for the data directory.
const DataDirEnv = "TOOLGATE_DATA_DIR"

// ResolveDataDir applies the precedence of docs/design.md ("Interfaces"): the flag, then
// TOOLGATE_DATA_DIR, then the config file, then the user's data directory
// ($XDG_DATA_HOME/toolgate, i.e. ~/.local/share/toolgate).
func ResolveDataDir(flag string, cfg *Config) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	if env := os.Getenv(DataDirEnv); env != "" {
		return filepath.Abs(env)
	}
	if cfg != nil && cfg.DataDir != "" {
		return cfg.DataDir, nil
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "toolgate"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no data directory: set --data-dir or %s (%v)", DataDirEnv, err)
	}
	return filepath.Join(home, ".local", "share", "toolgate"), nil
}

// credentialTransports is how each configured server is reached, for the
// credentials' checks.
func (c *Config) credentialTransports() map[string]credential.Transport {
	out := map[string]credential.Transport{}
	for _, s := range c.Servers {
		switch {
		case s.Command != "":
			out[s.Name] = credential.Transport{Stdio: true}
		case s.URL != "":
			out[s.Name] = credential.Transport{CredentialMode: c.MCP.Gateway.Servers[s.Name].Credential}
		}
	}
	return out
}

// FactServers is the facts stage's view of the configured servers.
func (c *Config) FactServers() []facts.ServerFacts {
	out := make([]facts.ServerFacts, 0, len(c.Servers))
	for _, s := range c.Servers {
		sf := facts.ServerFacts{Name: s.Name, Config: s.Facts, Tools: map[string]facts.Bindings{}}
		for name, t := range s.Tools {
			if len(t.Facts) > 0 {
				sf.Tools[name] = t.Facts
			}
		}
		out = append(out, sf)
	}
	return out
}

// ConfigEnv names the environment variable that names the config file.
const ConfigEnv = "TOOLGATE_CONFIG"

// FileName is the config file's name where toolgate looks for it.
const FileName = "toolgate.yaml"

// Found is where the configuration comes from.
type Found struct {
	// Path is the file; "" means the built-in defaults.
	Path string
	// Source says how the file was found: "--config", "$TOOLGATE_CONFIG",
	// "./toolgate.yaml" or "the user's config directory".
	Source string
}

func (f Found) String() string {
	if f.Path == "" {
		return "built-in defaults (no " + FileName + " found)"
	}
	return f.Path + " (from " + f.Source + ")"
}

// Discover finds the config file: flag (--config), else $TOOLGATE_CONFIG,
// else toolgate.yaml in the working directory, else toolgate.yaml in the
// user's config directory ($XDG_CONFIG_HOME/toolgate, i.e.
// ~/.config/toolgate); with none of them, the built-in defaults. A file
// named by the flag or the variable must exist (Load says so); one found by
// looking is used only if it is there, and refused if other users may
// write it.
func Discover(flag string) (Found, error) {
	if flag != "" {
		return Found{Path: flag, Source: "--config"}, nil
	}
	if env := os.Getenv(ConfigEnv); env != "" {
		return Found{Path: env, Source: "$" + ConfigEnv}, nil
	}
	look := func(path, source string) (Found, bool, error) {
		st, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			return Found{}, false, nil
		}
		if err != nil {
			return Found{}, false, fmt.Errorf("config: %w", err)
		}
		if st.IsDir() {
			return Found{}, false, fmt.Errorf("config: %s is a directory", path)
		}
		// A file found by looking decides policy without being named: one
		// that others may write is refused (as ssh refuses such keys).
		if st.Mode().Perm()&0o022 != 0 {
			return Found{}, false, fmt.Errorf("config: %s (%s) is writable by other users (mode %v): remove their write permission, or name the file with --config", path, source, st.Mode().Perm())
		}
		return Found{Path: path, Source: source}, true, nil
	}
	if f, ok, err := look(FileName, "./"+FileName); ok || err != nil {
		if abs, aerr := filepath.Abs(f.Path); aerr == nil {
			f.Path = abs
		}
		return f, err
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return Found{}, nil // no home: the defaults
		}
		dir = filepath.Join(home, ".config")
	}
	f, _, err := look(filepath.Join(dir, "toolgate", FileName), "the user's config directory")
	return f, err
}
