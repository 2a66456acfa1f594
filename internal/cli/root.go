// Package cli is toolgate's command line: flags, wiring of the pipeline's
// parts, and output. Commands stay thin; behaviour lives in the packages they
// wire.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/version"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// exitError carries a specific exit code without printing anything more.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

type usageError struct{ error }

// globals are the flags every command shares.
type globals struct {
	configFile string
	dataDir    string
	logLevel   string
	logFormat  string
	// found is where the configuration came from (after loadConfig).
	found  config.Found
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// Environment variables of the global flags (besides config.ConfigEnv and
// config.DataDirEnv).
const (
	LogLevelEnv  = "TOOLGATE_LOG_LEVEL"
	LogFormatEnv = "TOOLGATE_LOG_FORMAT"
)

// The global flags a command uses, declared with uses(); giving one to a
// command that does not use it is a usage error, not silently ignored.
const (
	useConfig  = "config"
	useDataDir = "data-dir"
	useLog     = "log"
	usesKey    = "toolgate/uses"
)

// uses declares the global flags cmd and its sub-commands use.
func uses(cmd *cobra.Command, flags ...string) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[usesKey] = strings.Join(flags, " ")
	return cmd
}

// usesFlag reports whether cmd (or the group it belongs to) uses flag.
func usesFlag(cmd *cobra.Command, flag string) bool {
	for c := cmd; c != nil; c = c.Parent() {
		if v, ok := c.Annotations[usesKey]; ok {
			return slices.Contains(strings.Fields(v), flag)
		}
	}
	return false
}

// checkGlobalFlags refuses a global flag the command would ignore.
func checkGlobalFlags(cmd *cobra.Command) error {
	for _, f := range []struct{ flag, use string }{
		{"config", useConfig}, {"data-dir", useDataDir}, {"log-level", useLog}, {"log-format", useLog},
	} {
		if cmd.Flags().Changed(f.flag) && !usesFlag(cmd, f.use) {
			return usageError{fmt.Errorf("%s does not use --%s", cmd.CommandPath(), f.flag)}
		}
	}
	return nil
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "toolgate",
		Short: "Runtime enforcement for AI-agent tool calls",
		Long: `toolgate sits between AI agents and their tools and makes every tool call its
own enforcement event: judged by Cedar policy when it runs, allowed, denied
with a reason the agent can read, or held for a human, and recorded in an
audit trail.

The configuration file is --config, else $` + config.ConfigEnv + `, else ./` + config.FileName + `,
else ~/.config/toolgate/` + config.FileName + ` ($XDG_CONFIG_HOME); without one, built-in
defaults. State is in the data directory: --data-dir, else $` + config.DataDirEnv + `,
else the config's data_dir, else ~/.local/share/toolgate ($XDG_DATA_HOME).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return checkGlobalFlags(cmd)
		},
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("toolgate {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&g.configFile, "config", "", "configuration file (YAML; default $"+config.ConfigEnv+", else ./"+config.FileName+", else ~/.config/toolgate/"+config.FileName+", else built-in defaults)")
	pf.StringVar(&g.dataDir, "data-dir", "", "state directory (default $"+config.DataDirEnv+", else the config's data_dir, else ~/.local/share/toolgate)")
	pf.StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn or error (default $"+LogLevelEnv+", else the config's log.level, else info)")
	pf.StringVar(&g.logFormat, "log-format", "", "log format: text or json (default $"+LogFormatEnv+", else the config's log.format, else text)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(
		newVersionCmd(g),
		uses(newCheckCmd(g), useConfig, useDataDir),
		newPolicyCmd(g),
		newConfigCmd(g),
		uses(newServeCmd(g), useConfig, useDataDir, useLog),
		uses(newRunCmd(g), useConfig, useDataDir, useLog),
		uses(newDoctorCmd(g), useConfig, useDataDir),
		uses(newPinCmd(g), useConfig, useDataDir),
		uses(newAuditCmd(g), useConfig, useDataDir),
		uses(newTaskCmd(g), useConfig, useDataDir),
		uses(newApprovalCmd(g), useConfig, useDataDir),
		uses(newStoreCmd(g), useConfig),
	)

	root.SetHelpCommand(newHelpCmd(root))
	root.InitDefaultCompletionCmd()
	strictArgs(root)
	cmd, err := root.ExecuteC()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "toolgate:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "toolgate:", err)
	var ue usageError
	if errors.As(err, &ue) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return ExitUsage
	}
	return ExitError
}

// strictArgs makes every argument mistake a usage error (exit 2) that names
// the command: a command group (policy, audit, …) given no sub-command or
// an unknown one fails with "did you mean", instead of printing its help
// and exiting 0, which lets `toolgate policy tset … && deploy` pass in CI;
// a command's own argument checks are usage errors too.
func strictArgs(c *cobra.Command) {
	c.SuggestionsMinimumDistance = 2
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.DisableFlagsInUseLine = true // its usage is its sub-commands
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("%q needs a sub-command: %s", c.CommandPath(), strings.Join(subNames(c), ", "))}
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			} else {
				msg += " (commands: " + strings.Join(subNames(c), ", ") + ")"
			}
			return usageError{errors.New(msg)}
		}
	} else if check := c.Args; check != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		strictArgs(sub)
	}
}

// newHelpCmd is `toolgate help [COMMAND]...`; unlike cobra's own, an
// unknown topic is a usage error.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]...",
		Short: "Help about any command",
		RunE: func(_ *cobra.Command, args []string) error {
			c, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				return usageError{fmt.Errorf("no help for %q: unknown command", strings.Join(args, " "))}
			}
			return c.Help()
		},
	}
}

// subNames are the names of c's sub-commands users can call.
func subNames(c *cobra.Command) []string {
	var out []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			out = append(out, s.Name())
		}
	}
	return out
}

// loadConfig reads the configuration file that config.Discover finds (or
// takes the defaults), with the log settings of the flags and environment.
func (g *globals) loadConfig() (*config.Config, error) {
	found, err := config.Discover(g.configFile)
	if err != nil {
		return nil, err
	}
	return g.loadFound(found)
}

// loadFound reads the configuration file found (the defaults for none).
func (g *globals) loadFound(found config.Found) (cfg *config.Config, err error) {
	g.found = found
	cfg = config.Default()
	if found.Path != "" {
		if cfg, err = config.Load(found.Path); err != nil {
			return nil, err
		}
	}
	for _, o := range []struct {
		name, flag, env string
		dst             *string
		valid           []string
	}{
		{"--log-level", g.logLevel, LogLevelEnv, &cfg.Log.Level, []string{"debug", "info", "warn", "error"}},
		{"--log-format", g.logFormat, LogFormatEnv, &cfg.Log.Format, []string{"text", "json"}},
	} {
		v, from := o.flag, o.name
		if v == "" {
			v, from = os.Getenv(o.env), "$"+o.env
		}
		if v == "" {
			continue
		}
		if !slices.Contains(o.valid, v) {
			err := fmt.Errorf("%s: %q is not one of %s", from, v, strings.Join(o.valid, ", "))
			if strings.HasPrefix(from, "--") {
				return nil, usageError{err}
			}
			return nil, err
		}
		*o.dst = v
	}
	return cfg, nil
}

// logger builds the structured logger the config asks for, on stderr.
func (g *globals) logger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr, opts))
}

func newVersionCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the version, the commit it was built from and the Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			if asJSON {
				return writeJSON(g.stdout, info)
			}
			fmt.Fprintln(g.stdout, "toolgate", version.String())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: version, commit, commit_time, modified, go, os, arch")
	return cmd
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// readInput reads a file argument, or stdin for "-" or no argument.
func (g *globals) readInput(args []string, limit int64) ([]byte, string, error) {
	name := "-"
	if len(args) > 0 {
		name = args[0]
	}
	var r io.Reader = g.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, name, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, name, err
	}
	if int64(len(b)) > limit {
		return nil, name, fmt.Errorf("%s: larger than the limit of %d bytes", name, limit)
	}
	return b, name, nil
}
