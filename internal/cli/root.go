// Package cli is toolgate's command line: flags, wiring of the pipeline's
// parts, and output. Commands stay thin; behaviour lives in the packages they
// wire.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
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
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
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
audit trail.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("toolgate {{.Version}}\n")
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "configuration file (YAML); without it, built-in defaults")
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "", "state directory (default $"+config.DataDirEnv+", else ~/.local/share/toolgate)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(
		newVersionCmd(g),
		newCheckCmd(g),
		newPolicyCmd(g),
		newServeCmd(g),
		newRunCmd(g), newPinCmd(g),
		newAuditCmd(g),
		newTaskCmd(g),
		newApprovalCmd(g),
		newStoreCmd(g),
	)

	err := root.Execute()
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
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintln(stderr, "Run 'toolgate --help' for usage.")
		return ExitUsage
	}
	return ExitError
}

// isCobraUsage recognises cobra's own argument errors (unknown command,
// wrong number of arguments), which it returns as plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// loadConfig reads --config, or returns the defaults.
func (g *globals) loadConfig() (*config.Config, error) {
	if g.configFile == "" {
		return config.Default(), nil
	}
	return config.Load(g.configFile)
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
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(g.stdout, "toolgate", version.String())
			return nil
		},
	}
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
