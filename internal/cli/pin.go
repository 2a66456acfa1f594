package cli

import (
	"context"
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
directory (pins/<server>.json), or with a PostgreSQL store in the database
(document pins/<server>). A later, different definition is refused
(mcp.pinning: refuse) or only logged (mcp.pinning: warn) until it is
accepted here.`,
	}
	cmd.AddCommand(newPinListCmd(g), newPinAcceptCmd(g))
	return cmd
}

// pinPlace is where the pins are: files in the data directory, or
// documents in the store replicas share.
type pinPlace struct {
	dataDir string
	st      *state // nil: the data directory's files
}

func (g *globals) pinPlace() (*pinPlace, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	dataDir, err := config.ResolveDataDir(g.dataDir, cfg)
	if err != nil {
		return nil, err
	}
	spec, err := config.ResolveStore(cfg)
	if err != nil {
		return nil, err
	}
	p := &pinPlace{dataDir: dataDir}
	if config.IsPostgres(spec) {
		if p.st, err = openState(cfg, dataDir, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *pinPlace) open(server string) (*pin.Store, error) {
	if p.st != nil {
		return p.st.pins(server)
	}
	return pin.Open(p.dataDir, server)
}

func (p *pinPlace) servers() ([]string, error) {
	if p.st != nil {
		return pin.SharedServers(context.Background(), p.st.db)
	}
	return pin.Servers(p.dataDir)
}

func (p *pinPlace) String() string {
	if p.st != nil {
		return p.st.String()
	}
	return pin.Dir(p.dataDir)
}

func (p *pinPlace) Close() { p.st.Close() }

func newPinListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list [SERVER]",
		Short: "List pinned tools and the changed definitions waiting to be accepted",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			place, err := g.pinPlace()
			if err != nil {
				return err
			}
			defer place.Close()
			servers := args
			if len(servers) == 0 {
				if servers, err = place.servers(); err != nil {
					return err
				}
				if len(servers) == 0 {
					fmt.Fprintf(g.stdout, "no pins in %s\n", place)
					return nil
				}
			}
			for _, server := range servers {
				s, err := place.open(server)
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
			place, err := g.pinPlace()
			if err != nil {
				return err
			}
			defer place.Close()
			s, err := place.open(args[0])
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
