package approval

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// What approvers are shown must be what the call does. A string can hide
// text from a person: bidirectional controls reorder what is displayed
// ("‮txt.exe" reads as "exe.txt"), zero-width and other invisible characters,
// tag characters and unusual spaces hide or fake words. Wherever a person
// reads a call — the CLI, webhook and elicitation text, the link's page —
// such characters are shown as escapes (\u202E); in JSON for programs they
// are JSON escapes, which decode to the same value.

// hidden tells whether r is a character a person may not see as itself:
// everything unicode.IsPrint rejects (controls, format characters such as
// the bidirectional ones and zero-width joiners, spaces other than ' ',
// line and paragraph separators, private use, unassigned), variation
// selectors, default-ignorable characters (Hangul fillers, …) and the
// blank Braille pattern.
func hidden(r rune) bool {
	switch {
	case r == ' ':
		return false
	case r == 0x2800:
		return true
	case unicode.Is(unicode.Variation_Selector, r), unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
		return true
	}
	return !unicode.IsPrint(r)
}

// Visible returns s for a person to read: every hidden character as \uXXXX
// (\UXXXXXXXX beyond the BMP), and every byte that is not UTF-8 as \xXX.
func Visible(s string) string { return visible(s, false) }

// visibleLayout is Visible for text laid out on lines (indented JSON): it
// keeps line feeds and tabs.
func visibleLayout(s string) string { return visible(s, true) }

func visible(s string, layout bool) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r == utf8.RuneError || hidden(r) })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02X`, s[i])
		case layout && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case hidden(r) && r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04X`, r)
		case hidden(r):
			fmt.Fprintf(&b, `\U%08X`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// escapeJSON returns JSON text (as encoding/json writes it: valid UTF-8)
// with every hidden character inside its strings written as a JSON escape,
// so the text shows them and decodes to the same values. Outside strings
// JSON has only ASCII, so every such character is in a string.
func escapeJSON(b []byte) []byte {
	s := string(b)
	if strings.IndexFunc(s, hidden) < 0 {
		return b
	}
	var out strings.Builder
	for _, r := range s {
		switch {
		case !hidden(r) || r < 0x80:
			// ASCII controls are escaped by the encoder already; the
			// rest is layout (indentation).
			out.WriteRune(r)
		case r > 0xFFFF:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, hi, lo)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return []byte(out.String())
}

// Display returns a copy of v for a person to read: every string shown
// with Visible, the arguments with their hidden characters as JSON escapes
// (so printing the JSON shows them).
func (v *View) Display() *View {
	d := *v
	for _, p := range []*string{&d.ID, &d.State, &d.Tool, &d.Principal, &d.Owner, &d.ArgsSHA256, &d.PolicyVersion, &d.DecisionID, &d.UsedBy} {
		*p = Visible(*p)
	}
	for _, l := range []*[]string{&d.Groups, &d.Chain, &d.Policies, &d.Reasons} {
		*l = slices.Clone(*l)
		for i := range *l {
			(*l)[i] = Visible((*l)[i])
		}
	}
	if v.Task != nil {
		t := *v.Task
		t.ID, t.Purpose = Visible(t.ID), Visible(t.Purpose)
		d.Task = &t
	}
	if v.Answer != nil {
		a := *v.Answer
		a.Approver, a.Channel, a.Comment = Visible(a.Approver), Visible(a.Channel), Visible(a.Comment)
		d.Answer = &a
	}
	if len(v.Arguments) > 0 {
		d.Arguments = json.RawMessage(escapeJSON(v.Arguments))
	}
	return &d
}

// WriteJSON writes v as indented JSON with hidden characters as JSON
// escapes (the CLI's --json).
func WriteJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(escapeJSON(b), '\n'))
	return err
}
