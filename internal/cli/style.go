package cli

import (
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
)

// style is how output is written for people: colour only on a terminal
// (and not with $NO_COLOR or TERM=dumb), so output that is piped or
// redirected carries no escape codes.
type style struct {
	tty   bool // stdout is a terminal
	color bool
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func (g *globals) style() style {
	tty := isTerminal(g.stdout)
	return style{tty: tty, color: tty && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"}
}

func (s style) paint(code, text string) string {
	if !s.color || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s style) bold(t string) string   { return s.paint("1", t) }
func (s style) dim(t string) string    { return s.paint("2", t) }
func (s style) red(t string) string    { return s.paint("31", t) }
func (s style) green(t string) string  { return s.paint("32", t) }
func (s style) yellow(t string) string { return s.paint("33", t) }

// effect colours a decision's effect or an approval's state.
func (s style) effect(e string) string {
	switch e {
	case "allow", "approved", "live", "ok":
		return s.green(e)
	case "deny", "denied", "revoked", "error", "failed":
		return s.red(e)
	case "ask", "pending":
		return s.yellow(e)
	}
	return e
}

// table collects rows and writes them with aligned columns. Cells may be
// painted: widths are measured on the text without escape codes.
type table struct {
	s    style
	rows [][]string
}

func (s style) newTable(header ...string) *table {
	t := &table{s: s}
	if len(header) > 0 {
		h := make([]string, len(header))
		for i, c := range header {
			h[i] = s.bold(c)
		}
		t.rows = append(t.rows, h)
	}
	return t
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write writes the rows, two spaces between columns, no trailing spaces.
func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], visibleWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-visibleWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// visibleWidth is the number of runes of s outside ANSI escape sequences.
func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j + 1
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return n
}
