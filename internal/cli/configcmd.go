package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/config"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config validate|path",
		Short: "Check the configuration file and show which one is used",
	}
	cmd.AddCommand(uses(newConfigValidateCmd(g), useConfig), uses(newConfigPathCmd(g), useConfig))
	return cmd
}

func newConfigValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a configuration file: every problem as file:line:col: key: message",
		Long: `validate reads the configuration file (FILE, else the one toolgate would use:
--config, $` + config.ConfigEnv + `, ./` + config.FileName + `, ~/.config/toolgate/` + config.FileName + `) and
checks it as every command does before it starts: unknown keys, values
that do not fit their key (a duration without a unit, a word where a number
belongs) and values that are not allowed, each printed as
file:line:col: key.path: message. The time windows declared beside the
policies (*.windows.yaml) are checked too.

Exit status: 0 if the file is valid, 1 if not. It does not start servers or
read the data directory; 'toolgate doctor' checks the whole setup.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if cmd.Flags().Changed("config") {
					return usageError{fmt.Errorf("give the file either as FILE or as --config, not both")}
				}
				g.configFile = args[0]
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			if g.found.Path == "" {
				return fmt.Errorf("no configuration file to validate: none given, $%s unset, no ./%s and none in the user's config directory", config.ConfigEnv, config.FileName)
			}
			if err := cfg.LoadPolicyWindows(); err != nil {
				return &exitError{code: ExitError, err: err}
			}
			fmt.Fprintf(g.stdout, "%s: %s is valid\n", g.style().green("ok"), g.found)
			return nil
		},
	}
}

func newConfigPathCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "path",
		Short: "Print which configuration file toolgate uses, and how it was found",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			found, err := config.Discover(g.configFile)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, found)
			return nil
		},
	}
}
