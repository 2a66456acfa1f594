package cli

import (
	"context"
	"fmt"
	"slices"
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

func (p *pinPlace) open(server string) (*pin.Store, error) {
	if p.st != nil {
		return p.st.pins(server)
	}
	return pin.Open(p.dataDir, server)
}

func (p *pinPlace) String() string {
	if p.st != nil {
		return p.st.String()
	}
	return pin.Dir(p.dataDir)
}

func (p *pinPlace) Close() { p.st.Close() }

// pinServers resolves where the pins are (the data directory, which must
// exist, or the PostgreSQL store) and the servers named, each of which must
// have pins there; with none named, every server that has. The caller
// closes the place.
func (g *globals) pinServers(named []string) (*pinPlace, []string, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	spec, err := config.ResolveStore(cfg)
	if err != nil {
		return nil, nil, err
	}
	place := &pinPlace{}
	var have []string
	if config.IsPostgres(spec) {
		if place.st, err = openState(cfg, "", updateData); err != nil {
			return nil, nil, err
		}
		have, err = pin.SharedServers(context.Background(), place.st.db)
	} else {
		if place.dataDir, err = g.dataDirFor(cfg, readData); err != nil {
			return nil, nil, err
		}
		have, err = pin.Servers(place.dataDir)
	}
	if err != nil {
		place.Close()
		return nil, nil, err
	}
	if len(named) == 0 {
		return place, have, nil
	}
	for _, s := range named {
		if !slices.Contains(have, s) {
			known := "none has"
			if len(have) > 0 {
				known = "these have: " + strings.Join(have, ", ")
			}
			place.Close()
			return nil, nil, fmt.Errorf("no pins for server %q in %s (%s)", s, place, known)
		}
	}
	return place, named, nil
}

func newPinListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [SERVER] [--json]",
		Short: "List pinned tools and the changed definitions waiting to be accepted",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			place, servers, err := g.pinServers(args)
			if err != nil {
				return err
			}
			defer place.Close()
			files := []*pin.File{}
			for _, server := range servers {
				s, err := place.open(server)
				if err != nil {
					return err
				}
				f, err := s.Load()
				if err != nil {
					return err
				}
				files = append(files, f)
			}
			if asJSON {
				return writeJSON(g.stdout, map[string]any{"servers": files})
			}
			if len(files) == 0 {
				fmt.Fprintf(g.stdout, "no pins in %s\n", place)
				return nil
			}
			st := g.style()
			for _, f := range files {
				s, _ := place.open(f.Server)
				fmt.Fprintf(g.stdout, "%s: %d tools pinned, %d changed (%s)\n", st.bold(f.Server), len(f.Tools), len(f.Changed), s.Path())
				tb := st.newTable()
				for _, name := range sortedNames(f.Tools) {
					p := f.Tools[name]
					mark := " "
					if _, changed := f.Changed[name]; changed {
						mark = st.red("!")
					}
					tb.add(" "+mark+" "+name, fmt.Sprintf("sha256:%.12s", p.Digest), "pinned "+p.Time.Format("2006-01-02 15:04:05Z07:00"))
				}
				if err := tb.write(g.stdout); err != nil {
					return err
				}
				for _, name := range sortedNames(f.Changed) {
					c := f.Changed[name]
					fields := pin.ChangedFields(f.Tools[name].Definition, c.Definition)
					fmt.Fprintf(g.stdout, "   %s %s: %s differ (sha256:%.12s, seen %s); accept with: toolgate pin accept %s %s\n",
						st.red("changed"), name, strings.Join(fields, ", "), c.Digest, c.Time.Format("2006-01-02 15:04:05Z07:00"), f.Server, name)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPinAcceptCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "accept SERVER [TOOL]...",
		Short: "Accept the changed definitions of a server's tools (all changed tools if none is named)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			place, _, err := g.pinServers(args[:1])
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
