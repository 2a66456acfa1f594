package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
)

// view is what every page template gets.
type view struct {
	Title string
	// Nav is the current section (for the menu).
	Nav     string
	Person  string
	Via     string
	CSRF    string
	Can     nav
	Flash   string
	Error   string
	Code    string
	Expires time.Time
	Data    any
}

// nav says which sections the person may open.
type nav struct {
	Trail, Tasks, Policies, Tools bool
}

func (c *Console) nav(s *session) nav {
	if s == nil {
		return nav{}
	}
	return nav{
		Trail:    c.o.Trail != nil && c.mayPage(s, ActionReadTrail, resTrail),
		Tasks:    c.o.Tasks != nil && c.mayPage(s, ActionReadTasks, resTasks),
		Policies: c.mayPage(s, ActionReadPolicies, resPolicies),
		Tools:    c.mayPage(s, ActionReadTools, resTools),
	}
}

var funcs = template.FuncMap{
	// vis shows hidden characters (bidirectional controls, zero-width
	// characters, …) as escapes, as every other place a person reads a
	// call does.
	"vis": approval.Visible,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"json": prettyJSON,
	"join": func(ss []string, sep string) string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = approval.Visible(s)
		}
		return strings.Join(out, sep)
	},
	"add": func(a, b int) int { return a + b },
	// depth is a class that indents a task by its depth (inline styles
	// are not allowed by the console's content security policy).
	"depth": func(depth int) string { return fmt.Sprintf("depth-%d", min(max(depth, 0), 8)) },
}

// prettyJSON indents JSON for reading, with hidden characters as escapes.
// What it shows is what was stored: redacted values stay redacted.
func prettyJSON(v any) string {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		raw = b
	}
	if len(raw) == 0 {
		return ""
	}
	// Decoded and encoded again so that a person reads characters, not
	// JSON escapes (\u003c is "<"; the template escapes it for HTML), and
	// hidden characters become visible escapes below.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var val any
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if dec.Decode(&val) != nil || enc.Encode(val) != nil {
		return approval.Visible(string(raw))
	}
	buf.Truncate(buf.Len() - 1) // the encoder's newline
	lines := strings.Split(buf.String(), "\n")
	for i, l := range lines {
		lines[i] = approval.Visible(l)
	}
	return strings.Join(lines, "\n")
}

// parsePages parses each page with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		out[base] = t
	}
	return out, nil
}

// render writes a page.
func (c *Console) render(w http.ResponseWriter, status int, page string, s *session, v view) {
	if s != nil {
		v.Person, v.Via, v.CSRF, v.Expires = s.Name(), s.Via, s.CSRF, s.Expires
		v.Can = c.nav(s)
	}
	c.write(w, status, page, "layout", v)
}

// fragment writes one named template of a page (live updates).
func (c *Console) fragment(w http.ResponseWriter, page, name string, s *session, data any) {
	v := view{Data: data}
	if s != nil {
		v.CSRF = s.CSRF
	}
	c.write(w, http.StatusOK, page, name, v)
}

func (c *Console) write(w http.ResponseWriter, status int, page, name string, v view) {
	t, ok := c.pages[page]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		c.o.Log.Error("console: a page cannot be rendered", "page", page, "error", err)
		http.Error(w, "the page cannot be rendered", http.StatusInternalServerError)
		return
	}
	secureHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error page (or a bare message to a script).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, code, msg string) {
	if r.Header.Get("X-Console") != "" {
		secureHeaders(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "%s: %s\n", code, msg)
		return
	}
	c.render(w, status, "error", s, view{Title: "Error", Error: msg, Code: code})
}
