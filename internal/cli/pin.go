package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/mcp/pin"
)

func newPinCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pin",
		Short: "List and accept pinned MCP tool definitions",
		Long: `toolgate pins each tool's definition (name, title, description, input and
output schema, annotations) the first time it sees it, in the data
directory (pins/<server>.json). A later, different definition is refused
(mcp.pinning: refuse) or only logged (mcp.pinning: warn) until it is
accepted here.`,
	}
	cmd.AddCommand(newPinListCmd(g), newPinAcceptCmd(g))
	return cmd
}

func (g *globals) pinStore(server string) (*pin.Store, string, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, "", err
	}
	dataDir, err := config.ResolveDataDir(g.dataDir, cfg)
	if err != nil {
		return nil, "", err
	}
	if server == "" {
		return nil, dataDir, nil
	}
	s, err := pin.Open(dataDir, server)
	return s, dataDir, err
}

func newPinListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list [SERVER]",
		Short: "List pinned tools and the changed definitions waiting to be accepted",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, dataDir, err := g.pinStore("")
			if err != nil {
				return err
			}
			servers := args
			if len(servers) == 0 {
				if servers, err = pin.Servers(dataDir); err != nil {
					return err
				}
				if len(servers) == 0 {
					fmt.Fprintf(g.stdout, "no pins in %s\n", pin.Dir(dataDir))
					return nil
				}
			}
			for _, server := range servers {
				s, err := pin.Open(dataDir, server)
				if err != nil {
					return err
				}
				f, err := s.Load()
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s: %d tools pinned, %d changed (%s)\n", server, len(f.Tools), len(f.Changed), s.Path())
				for _, name := range sortedNames(f.Tools) {
					p := f.Tools[name]
					mark := " "
					if _, changed := f.Changed[name]; changed {
						mark = "!"
					}
					fmt.Fprintf(g.stdout, " %s %-32s sha256:%.12s  pinned %s\n", mark, name, p.Digest, p.Time.Format("2006-01-02 15:04:05Z07:00"))
				}
				for _, name := range sortedNames(f.Changed) {
					c := f.Changed[name]
					fields := pin.ChangedFields(f.Tools[name].Definition, c.Definition)
					fmt.Fprintf(g.stdout, "   changed %s: %s differ (sha256:%.12s, seen %s); accept with: toolgate pin accept %s %s\n",
						name, strings.Join(fields, ", "), c.Digest, c.Time.Format("2006-01-02 15:04:05Z07:00"), server, name)
				}
			}
			return nil
		},
	}
}

func newPinAcceptCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "accept SERVER [TOOL]...",
		Short: "Accept the changed definitions of a server's tools (all changed tools if none is named)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, _, err := g.pinStore(args[0])
			if err != nil {
				return err
			}
			accepted, err := s.Accept(args[1:])
			if err != nil {
				return err
			}
			if len(accepted) == 0 {
				fmt.Fprintf(g.stdout, "%s: no changed definitions to accept\n", args[0])
				return nil
			}
			fmt.Fprintf(g.stdout, "%s: accepted the new definition of %s\n", args[0], strings.Join(accepted, ", "))
			return nil
		},
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
