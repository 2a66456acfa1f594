package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{`limits: {input_depth: 5000}`, `limits.input_depth`},
		{`principal: {kind: robot, id: r}`, `principal.kind`},
		{`principal: {kind: agent}`, `principal.id: is required`},
		{"servers: [{name: a}, {name: a}]", `servers[1].name: "a" is already the name of servers[0]`},
		{"servers: [{name: a/b}]", `contains "/"`},
		{"servers: [{name: ReadOnly}]", `reserved`},
		{"servers: [{name: a, command: x, url: http://x}]", `both command and url`},
		{"servers: [{name: a, args: [x]}]", `args: given without a command`},
		{"servers: [{name: a, trust: maybe}]", `servers[0].trust`},
		{"servers: [{name: a, labels: [Destructive]}]", `servers[0].labels[0]: label "Destructive" is reserved`},
		{"servers: [{name: a, tools: {'bad tool': {}}}]", `not a valid tool name`},
		{"servers: [{name: a, tools: {t: {outputs: {'x[0].y': untrusted}}}}]", `servers[0].tools.t.outputs: "x[0].y" is not a field path`},
		{"servers: [{name: a, tools: {t: {outputs: {'x[].y': private}}}}]", `servers[0].tools.t.outputs["x[].y"]: "private" is not untrusted or trusted`},
		{"policy: {layers: [{name: org, dirs: [x]}]}", `defined twice`},
		{"policy: {layers: [{name: team}]}", `needs at least one directory`},
		{`listen: [1, 2]`, `c.yaml: line 1: cannot unmarshal`},
		{"a: b: c", `c.yaml:`},
	}
	for _, tt := range tests {
		_, err := Parse("c.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
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
