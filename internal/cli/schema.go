package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/datafile"
	"github.com/toolgate/toolgate/internal/policy/schemagen"
)

func newPolicySchemaCmd(g *globals) *cobra.Command {
	var out string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "schema [--config F] [--out FILE]",
		Short: "Generate the Cedar schema of the configured servers' tools, to validate policies against",
		Long: `schema starts each server of the configuration (or reaches it at its url),
lists its tools and writes the Cedar schema policies are judged under: the
entity types (Agent, User, Group, Server, Approval), one action per tool in
its groups (the server, CallTool, ReadOnly/Destructive/OpenWorld from the
annotations and the config's overrides, the config's labels), and each
call's context: input typed from the tool's inputSchema (integer is Long,
number is decimal, arrays are sets, required properties are required),
system, task, chain, the facts of every classifier, flow and the declared
windows. A server with no command and no url contributes the tools the
config names, with untyped input.

Then 'toolgate policy validate --schema FILE DIR' catches what Cedar alone
cannot, such as context.input.pth for a tool whose argument is path.

Servers are started without the brokered secrets of the credentials
section; one that needs them to list its tools cannot be described here.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if len(cfg.Servers) == 0 {
				return fmt.Errorf("the configuration (%s) has no servers to describe", g.found)
			}
			if err := cfg.LoadPolicyWindows(); err != nil {
				return err
			}
			in := schemagen.Input{Windows: windowTypes(cfg)}
			for _, sc := range cfg.Servers {
				s := schemagen.Server{Name: sc.Name, AutoFacts: sc.Facts.Auto}
				if sc.Command == "" && sc.URL == "" {
					for _, name := range sortedNames(sc.Tools) {
						t := sc.Tools[name]
						s.Tools = append(s.Tools, schemagen.Tool{Name: name, Annotations: t.Annotations, Labels: t.Labels, Facts: t.Facts})
					}
					in.Servers = append(in.Servers, s)
					continue
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				tools, err := listTools(ctx, sc)
				cancel()
				if err != nil {
					return fmt.Errorf("server %q: %w", sc.Name, err)
				}
				for _, t := range tools {
					over := sc.Tools[t.Name]
					s.Tools = append(s.Tools, schemagen.Tool{Name: t.Name, InputSchema: t.InputSchema,
						Annotations: t.Annotations.Merge(over.Annotations), Labels: over.Labels, Facts: over.Facts})
				}
				in.Servers = append(in.Servers, s)
			}
			text, notes := schemagen.Generate(in)
			for _, n := range notes {
				fmt.Fprintln(g.stderr, "note:", n)
			}
			if out == "" {
				_, err := fmt.Fprint(g.stdout, text)
				return err
			}
			if err := datafile.WriteAtomic(out, []byte(text)); err != nil {
				return err
			}
			abs, _ := filepath.Abs(out)
			fmt.Fprintf(g.stderr, "wrote the schema of %d servers to %s; check policies with: toolgate policy validate --schema %s DIR\n", len(in.Servers), abs, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the schema to this file (default: standard output)")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long a server may take to start and list its tools")
	return cmd
}

// windowTypes are the Cedar types of the declared windows.
func windowTypes(cfg *config.Config) map[string]string {
	out := map[string]string{}
	names := make([]string, 0, len(cfg.History.Windows))
	for n := range cfg.History.Windows {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		switch cfg.History.Windows[n].Op {
		case "count", "sum":
			out[n] = "Long"
		default: // formerly, previous
			out[n] = "Bool"
		}
	}
	return out
}
