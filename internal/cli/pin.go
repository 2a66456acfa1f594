package cli

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

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

// pinServers resolves the data directory (which must exist) and the
// servers named, each of which must have pins there; with none named,
// every server that has.
func (g *globals) pinServers(named []string) (string, []string, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return "", nil, err
	}
	dataDir, err := g.dataDirFor(cfg, readData)
	if err != nil {
		return "", nil, err
	}
	have, err := pin.Servers(dataDir)
	if err != nil {
		return "", nil, err
	}
	if len(named) == 0 {
		return dataDir, have, nil
	}
	for _, s := range named {
		if !slices.Contains(have, s) {
			known := "none has"
			if len(have) > 0 {
				known = "these have: " + strings.Join(have, ", ")
			}
			return "", nil, fmt.Errorf("no pins for server %q in %s (%s)", s, pin.Dir(dataDir), known)
		}
	}
	return dataDir, named, nil
}

func newPinListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [SERVER] [--json]",
		Short: "List pinned tools and the changed definitions waiting to be accepted",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dataDir, servers, err := g.pinServers(args)
			if err != nil {
				return err
			}
			files := []*pin.File{}
			for _, server := range servers {
				s, err := pin.Open(dataDir, server)
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
				fmt.Fprintf(g.stdout, "no pins in %s\n", pin.Dir(dataDir))
				return nil
			}
			st := g.style()
			for _, f := range files {
				s, _ := pin.Open(dataDir, f.Server)
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
			dataDir, _, err := g.pinServers(args[:1])
			if err != nil {
				return err
			}
			s, err := pin.Open(dataDir, args[0])
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
