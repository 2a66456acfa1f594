package console

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/toolgate/toolgate/internal/mcp/pin"
	"github.com/toolgate/toolgate/internal/policy"
)

type toolRow struct {
	Name        string
	Digest      string
	Pinned      time.Time
	Description string
	Annotations string
	Definition  string
	// A change waiting for a person: what differs, line by line.
	Changed   bool
	Fields    []string
	Diff      []diffLine
	Seen      time.Time
	Rejected  bool
	NewDigest string
}

type serverRow struct {
	Server
	Tools  []toolRow
	Error  string
	Manage bool
}

func serverEntity(name string) types.Entity {
	return types.Entity{UID: types.NewEntityUID(policy.TypeServer, types.String(name)), Attributes: types.NewRecord(nil)}
}

func (c *Console) toolsPage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.mayPage(s, ActionReadTools, resTools) {
		c.fail(w, r, s, http.StatusForbidden, CodeForbidden, s.Name()+" may not see the tools (Action::\"ReadTools\")")
		return
	}
	var rows []serverRow
	for _, srv := range c.o.Servers {
		row := serverRow{Server: srv, Manage: c.may(s, ActionManagePins, serverEntity(srv.Name))}
		if c.o.Pins == nil {
			rows = append(rows, row)
			continue
		}
		st, err := c.o.Pins(srv.Name)
		var f *pin.File
		if err == nil {
			f, err = st.Load()
		}
		if err != nil {
			row.Error = err.Error()
			rows = append(rows, row)
			continue
		}
		names := make([]string, 0, len(f.Tools))
		for n := range f.Tools {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p := f.Tools[n]
			tr := toolRow{Name: n, Digest: p.Digest, Pinned: p.Time, Definition: prettyJSON(p.Definition)}
			var def struct {
				Description string          `json:"description"`
				Annotations json.RawMessage `json:"annotations"`
			}
			if json.Unmarshal(p.Definition, &def) == nil {
				tr.Description = def.Description
				if len(def.Annotations) > 0 {
					tr.Annotations = prettyJSON(def.Annotations)
				}
			}
			if ch, ok := f.Changed[n]; ok {
				tr.Changed, tr.Seen, tr.NewDigest = true, ch.Time, ch.Digest
				tr.Fields = pin.ChangedFields(p.Definition, ch.Definition)
				tr.Diff = diffLines(prettyJSON(p.Definition), prettyJSON(ch.Definition))
			} else if rj, ok := f.Rejected[n]; ok {
				tr.Rejected, tr.NewDigest, tr.Seen = true, rj.Digest, rj.Time
			}
			row.Tools = append(row.Tools, tr)
		}
		rows = append(rows, row)
	}
	c.render(w, http.StatusOK, "tools", s, view{Title: "Tools", Nav: "tools", Flash: r.URL.Query().Get("done"), Data: rows})
}

// pinVerdict accepts or rejects a changed definition: verdict accept or
// reject, tool in the form.
func (c *Console) pinVerdict(w http.ResponseWriter, r *http.Request, s *session) {
	server, verdict, tool := r.PathValue("server"), r.PathValue("verdict"), r.PostForm.Get("tool")
	if verdict != "accept" && verdict != "reject" {
		c.fail(w, r, s, http.StatusNotFound, CodeNotFound, "there is nothing at "+r.URL.Path)
		return
	}
	known := false
	for _, srv := range c.o.Servers {
		known = known || srv.Name == server
	}
	if !known || c.o.Pins == nil {
		c.fail(w, r, s, http.StatusNotFound, CodeNotFound, "there is no server "+server)
		return
	}
	if !c.mayPage(s, ActionReadTools, resTools) || !c.may(s, ActionManagePins, serverEntity(server)) {
		c.fail(w, r, s, http.StatusForbidden, CodeForbidden, s.Name()+" may not accept or reject the tools of "+server+" (Action::\"ManagePins\")")
		return
	}
	if tool == "" {
		c.fail(w, r, s, http.StatusBadRequest, CodeInvalid, "name the tool")
		return
	}
	st, err := c.o.Pins(server)
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, err.Error())
		return
	}
	if verdict == "accept" {
		_, err = st.Accept([]string{tool})
	} else {
		_, err = st.Reject([]string{tool})
	}
	if err != nil {
		c.fail(w, r, s, http.StatusConflict, CodeInvalid, err.Error())
		return
	}
	c.o.Log.Info("console: a changed tool definition was "+verdict+"ed", "server", server, "tool", tool, "by", s.Name())
	http.Redirect(w, r, "/console/tools?done="+verdict+"ed+"+server+"/"+tool, http.StatusSeeOther)
}

// diffLine is one line of a diff: ' ', '-' or '+'.
type diffLine struct {
	Op   string
	Text string
}

// maxDiffLines bounds the diff's table (definitions are small; a huge one
// is shown as a whole replacement).
const maxDiffLines = 2000

// diffLines is a line diff of a and b (longest common subsequence).
func diffLines(a, b string) []diffLine {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(x)*len(y) > maxDiffLines*maxDiffLines/4 {
		var out []diffLine
		for _, l := range x {
			out = append(out, diffLine{"-", l})
		}
		for _, l := range y {
			out = append(out, diffLine{"+", l})
		}
		return out
	}
	// lcs[i][j]: the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{" ", x[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", x[i]})
			i++
		default:
			out = append(out, diffLine{"+", y[j]})
			j++
		}
	}
	for ; i < len(x); i++ {
		out = append(out, diffLine{"-", x[i]})
	}
	for ; j < len(y); j++ {
		out = append(out, diffLine{"+", y[j]})
	}
	return out
}
