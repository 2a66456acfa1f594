package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/toolgate/toolgate/internal/credential"
)

func TestParseDefaultsAndPaths(t *testing.T) {
	c, err := Parse("/etc/toolgate/config.yaml", []byte(`
policy:
  dirs: [policies, /abs/policies]
servers:
  - name: fs
    command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", /data]
    tools:
      read_file:
        annotations: {read_only: true}
        labels: [files]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.Log.Level != "info" || c.Audit.Sink == "" || c.Limits.InputDepth != 32 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.Policy.Dirs[0] != "/etc/toolgate/policies" || c.Policy.Dirs[1] != "/abs/policies" {
		t.Fatalf("paths: %v", c.Policy.Dirs)
	}
	s := c.Server("fs")
	if s == nil || s.Trust != "untrusted" || !s.Tools["read_file"].Annotations.IsReadOnly() || s.Tools["read_file"].Labels[0] != "files" {
		t.Fatalf("server: %+v", s)
	}
	if !c.Policy.WatchEnabled() {
		t.Fatal("watch should default to on")
	}
}

func TestUnknownKeysNamePathAndLine(t *testing.T) {
	_, err := Parse("c.yaml", []byte(`
listen: 127.0.0.1:1
servers:
  - name: fs
    comand: npx
    tools:
      read_file:
        annotation: {read_only: true}
polcy: {}
`))
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	for _, want := range []string{
		`c.yaml:5:5: servers[0].comand: unknown key (known: args, command, facts, labels, name, tools, trust, url)`,
		`c.yaml:8:9: servers[0].tools.read_file.annotation: unknown key`,
		`c.yaml:9:1: polcy: unknown key`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestValidation(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{`listen: nope`, `listen: "nope" is not host:port`},
		{`log: {level: loud}`, `log.level`},
		{`log: {format: xml}`, `log.format`},
		{`audit: {sink: tape}`, `audit.sink: unknown sink "tape"`},
		{`audit: {durability: fsync}`, `audit.durability: "fsync" is not flush or os`},
		{`audit: {durability: OS}`, `audit.durability: "OS" is not flush or os`},
		{"store: postgres://db.internal/toolgate\naudit: {durability: os}", `audit.durability: os is for a trail in the data directory`},
		{`limits: {input_depth: 5000}`, `limits.input_depth`},
		{`principal: {kind: robot, id: r}`, `principal.kind`},
		{`principal: {kind: agent}`, `principal.id: is required`},
		{"servers: [{name: a}, {name: a}]", `servers[1].name: "a" is already the name of servers[0]`},
		{"servers: [{name: a/b}]", `contains "/"`},
		{"servers: [{name: ReadOnly}]", `reserved`},
		{"servers: [{name: ReadTrail}]", `reserved`},
		{"console: {session_ttl: 72h}", `console.session_ttl: 72h0m0s is not between 1m and 24h0m0s`},
		{"console: {oidc: {issuer: 'https://login.example.com/', client_id: tg}}", `console.oidc: the issuer "https://login.example.com/" with audience "tg" must also be in identity.issuers`},
		{"identity: {issuers: [{issuer: 'https://login.example.com/', audience: [other]}]}\nconsole: {oidc: {issuer: 'https://login.example.com/', client_id: tg}}", `must also be in identity.issuers`},
		{"servers: [{name: a, command: x, url: http://x}]", `both command and url`},
		{"servers: [{name: a, args: [x]}]", `args: given without a command`},
		{"servers: [{name: a, trust: maybe}]", `servers[0].trust`},
		{"servers: [{name: a, labels: [Destructive]}]", `servers[0].labels[0]: label "Destructive" is reserved`},
		{"servers: [{name: a, tools: {'bad tool': {}}}]", `not a valid tool name`},
		{"servers: [{name: a, tools: {t: {outputs: {'x[0].y': untrusted}}}}]", `servers[0].tools.t.outputs: "x[0].y" is not a field path`},
		{"servers: [{name: a, tools: {t: {outputs: {'x[].y': private}}}}]", `servers[0].tools.t.outputs["x[].y"]: "private" is not untrusted or trusted`},
		{"policy: {layers: [{name: org, dirs: [x]}]}", `defined twice`},
		{"policy: {layers: [{name: team}]}", `needs at least one directory`},
		{`listen: [1, 2]`, `c.yaml:1:9: listen: want a single value, not a list`},
		{"a: b: c", `c.yaml:1:4: mapping value is not allowed in this context`},
		{"a: [b\n", `c.yaml:1:4: sequence end token ']' not found`},
	}
	for _, tt := range tests {
		_, err := Parse("c.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

// Values that do not fit their key's type are reported like unknown keys:
// file:line:col, key path, and what was wanted, in words.
func TestValueErrorsNamePathLineAndColumn(t *testing.T) {
	_, err := Parse("c.yaml", []byte(`mcp:
  shutdown_timeout: 5
  max_message_bytes: lots
  gateway:
    request_timeout: 10x
approvals: {timeout: 3}
servers:
  - name: fs
    args: {a: 1}
policy:
  watch: maybe
  dirs: nodir
limits: 7
`))
	if err == nil {
		t.Fatal("bad values accepted")
	}
	want := []string{
		`c.yaml:2:21: mcp.shutdown_timeout: "5" is not a duration: write a number with a unit, such as 30s, 5m or 1h`,
		`c.yaml:3:22: mcp.max_message_bytes: "lots" is not a whole number in range`,
		`c.yaml:5:22: mcp.gateway.request_timeout: "10x" is not a duration`,
		`c.yaml:6:22: approvals.timeout: "3" is not a duration`,
		`c.yaml:9:11: servers[0].args: want a list, not a mapping`,
		`c.yaml:11:10: policy.watch: "maybe" is not true or false`,
		`c.yaml:12:9: policy.dirs: want a list, not "nodir"`,
		`c.yaml:13:9: limits: want a mapping of keys (input_bytes, input_depth, input_values), not "7"`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d lacks %q:\n%v", i, w, err)
		}
	}
}

// Checks on values (done after decoding) are placed at their key too, in
// the file's order; a required key that is missing at its parent.
func TestValidationErrorsArePlaced(t *testing.T) {
	_, err := Parse("c.yaml", []byte(`servers:
  - name: a/b
    trust: maybe
identity:
  issuers:
    - issuer: https://idp.example
listen: nohost
`))
	want := []string{
		`c.yaml:2:11: servers[0].name: server name "a/b" contains "/"`,
		`c.yaml:3:12: servers[0].trust: "maybe" is not trusted or untrusted`,
		`c.yaml:6:7: identity.issuers[0].audience: is required`,
		`c.yaml:7:9: listen: "nohost" is not host:port`,
	}
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d lacks %q:\n%v", i, w, err)
		}
	}
}

func TestLocate(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a:\n  b.c: {d: [x, y]}\n  b: 1\n"), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	for path, want := range map[string]string{
		"a.b.c.d[1]": "2:16", // the longest key wins: "b.c", not "b"
		"a.b":        "3:6",
		"a.b.c.e":    "2:8",  // missing: its parent
		"a.b.c.d[7]": "2:12", // out of range: the list
		"z":          "1:1",
	} {
		n := locate(root, path)
		if got := fmt.Sprintf("%d:%d", n.Line, n.Column); got != want {
			t.Errorf("locate(%q) at %s, want %s", path, got, want)
		}
	}
}

// Syntax errors are placed at line and column, with the source around
// them and a caret under the column; keys given twice are placed at the
// second. (On the old code: a line only — often the wrong one — or no
// place at all.)
func TestSyntaxErrorsArePlaced(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"listen: 127.0.0.1:1\nservers:\n  - name: a\n   command: x\n", "c.yaml:4:4: value is not allowed in this context\n" +
			"     3 |   - name: a\n     4 |    command: x\n            ^"},
		{"a: b: c\n", "c.yaml:1:4: mapping value is not allowed in this context\n     1 | a: b: c\n            ^"},
		{"mcp:\n\tdenial: error\n", "c.yaml:2:1: found character '\t' that cannot start any token\n" +
			"     1 | mcp:\n     2 | \tdenial: error\n         ^"},
		{"x: 1\ny: {a: 1\n", "c.yaml:2:4: could not find flow mapping end token '}'"},
		{"log: {level: \"debug}\n", "c.yaml:1:14: could not find end character of double-quoted text"},
		{"servers:\n  - name: fs\n    command: [npx, \"x\"\n  - name: b\n", "c.yaml:4:3: ',' or ']' must be specified"},
		{"listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", `c.yaml:2:1: listen: key given twice (first at 1:1)`},
		{"servers: [{name: a, name: b}]\n", `c.yaml:1:21: servers[0].name: key given twice (first at 1:12)`},
		{"servers: [{name: a, tools: {t: {}, t: {}}}]\n", `c.yaml:1:36: servers[0].tools.t: key given twice (first at 1:29)`},
	} {
		_, err := Parse("c.yaml", []byte(tt.yaml))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q:\n got %v\nwant %s", tt.yaml, err, tt.want)
		}
	}
	// Where the second parser finds nothing wrong, the decoder's message
	// stands, with the line it names.
	_, err := Parse("c.yaml", []byte("a: &x 1\nb: *y\n"))
	if err == nil || err.Error() != "c.yaml: unknown anchor 'y' referenced" {
		t.Errorf("unknown anchor: %v", err)
	}
}

// snippetLine is a line of source shown under a syntax error, or its caret.
var snippetLine = regexp.MustCompile(`^(  +\d+ \| .*| +[ \t]*\^)$`)

// FuzzParse: any input either parses or fails with every problem placed in
// the named file; it never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:1\nmcp: {shutdown_timeout: 5}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Parse("f.yaml", b)
		if err == nil {
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "f.yaml:") && !snippetLine.MatchString(line) {
				t.Fatalf("unplaced error %q in:\n%v", line, err)
			}
		}
	})
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Parse("c.yaml", nil)
	if err != nil || c.Listen != DefaultListen {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestResolveDataDir(t *testing.T) {
	t.Setenv(DataDirEnv, "")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	cfg := &Config{DataDir: "/from/config"}
	if d, _ := ResolveDataDir("/flag", cfg); d != "/flag" {
		t.Errorf("flag: %s", d)
	}
	t.Setenv(DataDirEnv, "/env")
	if d, _ := ResolveDataDir("", cfg); d != "/env" {
		t.Errorf("env: %s", d)
	}
	t.Setenv(DataDirEnv, "")
	if d, _ := ResolveDataDir("", cfg); d != "/from/config" {
		t.Errorf("config: %s", d)
	}
	if d, _ := ResolveDataDir("", nil); d != "/xdg/toolgate" {
		t.Errorf("xdg: %s", d)
	}
	t.Setenv("XDG_DATA_HOME", "")
	home, _ := os.UserHomeDir()
	if d, _ := ResolveDataDir("", nil); d != filepath.Join(home, ".local", "share", "toolgate") {
		t.Errorf("home: %s", d)
	}
}

// TestRelativeSecretFilesFromTheConfigDir: a relative secret file (and TLS
// key pair) means a file beside the config, whatever directory toolgate
// starts in, as every other relative path in the file does.
func TestRelativeSecretFilesFromTheConfigDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"gh", "vault", "client"} {
		if err := os.WriteFile(filepath.Join(dir, "secrets", f), []byte("secret-"+f+"-0123456789\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "toolgate.yaml")
	if err := os.WriteFile(path, []byte(`
servers:
  - {name: gh, url: https://gh.example/mcp}
  - {name: crm, url: https://crm.example/mcp}
credentials:
  vault: {address: https://vault.example, token: {file: secrets/vault}}
  servers:
    gh:
      secrets:
        - {header: X-Api-Key, from: {file: secrets/gh}}
        - {header: X-Abs, from: {file: /run/abs}}
    crm:
      exchange: {issuer: https://idp.example, client_id: tg, client_secret: {file: ./secrets/client}, scopes: {"*": [read]}}
mcp:
  gateway: {tls_cert_file: tls/cert.pem, tls_key_file: tls/key.pem}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // somewhere else
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		c.Credentials.Servers["gh"].Secrets[0].From.File:        filepath.Join(dir, "secrets/gh"),
		c.Credentials.Servers["gh"].Secrets[1].From.File:        "/run/abs",
		c.Credentials.Vault.Token.File:                          filepath.Join(dir, "secrets/vault"),
		c.Credentials.Servers["crm"].Exchange.ClientSecret.File: filepath.Join(dir, "secrets/client"),
		c.MCP.Gateway.TLSCertFile:                               filepath.Join(dir, "tls/cert.pem"),
		c.MCP.Gateway.TLSKeyFile:                                filepath.Join(dir, "tls/key.pem"),
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
	// And the secret is read from there.
	v, err := credential.NewSecrets(c.Credentials.Vault).Resolve(context.Background(), c.Credentials.Servers["gh"].Secrets[0].From)
	if err != nil || v != "secret-gh-0123456789" {
		t.Errorf("resolved %q, %v", v, err)
	}
}

// Discover: a file found by looking that other users may write is refused;
// the same file named explicitly is the caller's choice.
func TestDiscoverRefusesAWritableFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(ConfigEnv, "")
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	if err := os.WriteFile(FileName, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := Discover(""); err != nil || f.Source != "./toolgate.yaml" {
		t.Fatalf("%+v %v", f, err)
	}
	if err := os.Chmod(FileName, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Discover(""); err == nil || !strings.Contains(err.Error(), "writable by other users") {
		t.Errorf("a world-writable ./toolgate.yaml: %v", err)
	}
	if f, err := Discover(FileName); err != nil || f.Source != "--config" {
		t.Errorf("named: %+v %v", f, err)
	}
}
