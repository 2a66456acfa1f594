package history

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/toolgate/toolgate/internal/call"
)

// Value-level provenance: every value found in a tool's output is indexed
// with where it was seen (the tool, the field of the output, the field's
// label), so that the values of one output are judged each on its own: the
// payee a bank lists in a trusted field is the user's, the account number
// written in an incoming transfer's note (an untrusted field) is not.

// Output field labels (tools.<t>.outputs in the configuration).
const (
	// FieldUntrusted: the field's values are untrusted provenance.
	FieldUntrusted = "untrusted"
	// FieldTrusted: the field's values are the user's own (a list the user
	// keeps: payees, contacts), trusted like the task's purpose.
	FieldTrusted = "trusted"
)

// Labels of sources besides the field labels.
const sourceUser = "user"

// valueInfo is what the index keeps of one value: when it was last seen in
// untrusted output and in trusted places (a trusted field, a person's own
// input), and up to maxValueSources places it was seen in (ids in the
// scope's source table, +1; 0 is empty).
type valueInfo struct {
	untrusted int64
	trusted   int64
	src       [maxValueSources]uint16
}

const (
	maxValueSources = 4
	// maxSources bounds a scope's table of distinct sources; past it,
	// sources are kept as {tool: "*", field: "*", label}.
	maxSources = 1024
	// maxOutputGroups bounds the distinct (field, label) groups of one
	// output; past it, fields are recorded as "*".
	maxOutputGroups = 64
)

func (v *valueInfo) addSource(id uint16) {
	for i, s := range v.src {
		if s == id {
			return
		}
		if s == 0 {
			v.src[i] = id
			return
		}
	}
	// Full: the newest replaces the last.
	v.src[maxValueSources-1] = id
}

// sourceID returns the id (+1) of a source in the scope's table, adding it.
func (sc *scope) sourceID(src call.Source) uint16 {
	if id, ok := sc.srcIdx[src]; ok {
		return id
	}
	if len(sc.srcs) >= maxSources {
		src = call.Source{Tool: "*", Field: "*", Label: src.Label}
		if id, ok := sc.srcIdx[src]; ok {
			return id
		}
	}
	sc.srcs = append(sc.srcs, src)
	id := uint16(len(sc.srcs))
	sc.srcIdx[src] = id
	return id
}

// outGroup is the values of one output field with one label, as stored in
// an event: F the field path, L the label, V the packed hashes.
type outGroup struct {
	F string `json:"f"`
	L string `json:"l"`
	V []byte `json:"v"`
}

// CheckFieldPattern validates an output field path of the configuration
// (tools.<t>.outputs): dotted names and [] for the elements of an array
// ("transactions[].subject", "[].iban", "subject").
func CheckFieldPattern(p string) error {
	if p == "" {
		return fmt.Errorf("an empty field path")
	}
	rest := p
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "[]"):
			rest = rest[2:]
		case rest[0] == '.':
			if rest == p || len(rest) == 1 || rest[1] == '.' || rest[1] == '[' {
				return fmt.Errorf("%q is not a field path: a '.' must be followed by a name", p)
			}
			rest = rest[1:]
		default:
			n := strings.IndexAny(rest, ".[")
			if n < 0 {
				n = len(rest)
			}
			if strings.ContainsAny(rest[:n], "]") {
				return fmt.Errorf("%q is not a field path (names, '.', and [] for the elements of an array)", p)
			}
			if rest != p && p[len(p)-len(rest)-1] != '.' && p[len(p)-len(rest)-1] != ']' {
				return fmt.Errorf("%q is not a field path", p)
			}
			rest = rest[n:]
			if strings.HasPrefix(rest, "[") && !strings.HasPrefix(rest, "[]") {
				return fmt.Errorf("%q is not a field path: use [] for the elements of an array, not an index", p)
			}
		}
	}
	return nil
}

// fieldLabel is the label the configuration gives the output field at
// path: that of the longest pattern equal to the path or to a prefix of it
// ending where a name or [] ends ("transactions[]" covers
// "transactions[].subject"); "" if none.
func fieldLabel(outputs map[string]string, path string) string {
	best, label := -1, ""
	for p, l := range outputs {
		if len(p) <= best || !strings.HasPrefix(path, p) {
			continue
		}
		if len(p) < len(path) && path[len(p)] != '.' && path[len(p)] != '[' {
			continue
		}
		best, label = len(p), l
	}
	return label
}

// hasFieldLabel tells whether some output field has the label.
func hasFieldLabel(outputs map[string]string, label string) bool {
	for _, l := range outputs {
		if l == label {
			return true
		}
	}
	return false
}

// indexOutput finds the values of a tool result (or other server content)
// and groups them by output field and label: a field's configured label,
// else untrusted when the whole output is. Values of fields with neither
// are not indexed. The result is read as MCP sends it: structuredContent,
// the text of each content item (contents[] of a resource, messages[] of a
// prompt), each read as JSON when it is JSON; a field's path is relative
// to that document. Anything else in the result is read with its path from
// the result's root; a result that is not JSON is text (path "").
func (s *Stage) indexOutput(result []byte, outputs map[string]string, untrusted bool) []outGroup {
	type key struct{ f, l string }
	groups := map[key][]byte{}
	seen := map[key]map[uint64]struct{}{}
	var order []key
	add := func(field, label string, leaf func(x *extractor)) {
		if label == "" {
			return
		}
		k := key{field, label}
		if _, ok := groups[k]; !ok {
			if len(order) >= maxOutputGroups {
				k = key{"*", label}
			}
			if _, ok := groups[k]; !ok {
				groups[k] = nil
				seen[k] = map[uint64]struct{}{}
				order = append(order, k)
			}
		}
		s.extract(leaf, func(h uint64, _ bool) {
			if _, dup := seen[k][h]; dup {
				return
			}
			seen[k][h] = struct{}{}
			groups[k] = binary.BigEndian.AppendUint64(groups[k], h)
		})
	}
	labelOf := func(path string) string {
		if l := fieldLabel(outputs, path); l != "" {
			return l
		}
		if untrusted {
			return FieldUntrusted
		}
		return ""
	}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				walk(v[k], joinPath(path, k))
			}
		case []any:
			for _, e := range v {
				walk(e, path+"[]")
			}
		case string:
			l := labelOf(path)
			add(path, l, func(x *extractor) { x.text(v); x.word(v) })
		case json.Number:
			l := labelOf(path)
			add(path, l, func(x *extractor) { x.jsonNumber(string(v)) })
		}
	}
	// doc reads a string that may hold a JSON document.
	doc := func(text string) {
		if t := strings.TrimSpace(text); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			if v, err := decodeJSON([]byte(t)); err == nil {
				walk(v, "")
				return
			}
		}
		l := labelOf("")
		add("", l, func(x *extractor) { x.text(text); x.word(text) })
	}
	root, err := decodeJSON(result)
	if err != nil {
		doc(string(result))
	} else if m, ok := root.(map[string]any); ok {
		for _, k := range sortedKeys(m) {
			switch k {
			case "structuredContent":
				walk(m[k], "")
			case "content", "contents":
				items, _ := m[k].([]any)
				for _, it := range items {
					if t, ok := textOf(it); ok {
						doc(t)
					} else {
						walk(it, k+"[]")
					}
				}
			case "messages":
				items, _ := m[k].([]any)
				for _, it := range items {
					msg, _ := it.(map[string]any)
					if t, ok := textOf(msg["content"]); ok {
						doc(t)
					} else {
						walk(it, "messages[]")
					}
				}
			default:
				walk(m[k], k)
			}
		}
	} else {
		walk(root, "")
	}
	out := make([]outGroup, 0, len(order))
	for _, k := range order {
		if len(groups[k]) > 0 {
			out = append(out, outGroup{F: k.f, L: k.l, V: groups[k]})
		}
	}
	return out
}

// textOf is the text of a content item ({"type": "text", "text": …}).
func textOf(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	t, ok := m["text"].(string)
	return t, ok
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// argValues finds the values of one argument leaf: its typed values (an
// e-mail address's domain left out: it is not the address) and, for a
// short string, the string as a whole (0 if none).
func (s *Stage) argValues(v any, typed *[]uint64, links *[]bool) (whole uint64) {
	*typed, *links = (*typed)[:0], (*links)[:0]
	str, isStr := v.(string)
	short := isStr && len(strings.TrimSpace(str)) <= maxWord
	var ex *extractor
	s.extract(func(x *extractor) {
		ex = x
		switch v := v.(type) {
		case string:
			x.text(v)
			if short {
				x.derived = true // marks the whole string, below
				x.word(v)
				x.derived = false
			}
		case json.Number:
			x.jsonNumber(string(v))
		}
	}, func(h uint64, derived bool) {
		switch {
		case !derived:
			*typed = append(*typed, h)
			*links = append(*links, isLink(ex.kind))
		case short:
			whole = h // the last derived value is the whole string
		}
	})
	return whole
}

// argLegacy are the URLs of a string argument in the form URLs were stored
// in before they lost their scheme (kindURLv1): they taint, as older
// events within the retention may hold them, and never make an argument
// the user's.
func (s *Stage) argLegacy(v any, legacy *[]uint64) {
	*legacy = (*legacy)[:0]
	str, ok := v.(string)
	if !ok || !strings.Contains(str, "://") {
		return
	}
	s.extract(func(x *extractor) {
		x.legacyURL = true
		x.text(str)
		x.legacyURL = false
	}, func(h uint64, _ bool) { *legacy = append(*legacy, h) })
}

// argPhone is the number of a string that is a phone number and nothing
// else (digits, '+', spaces, '-', '.', parentheses): its last 10 digits, or
// all of them if fewer.
func (s *Stage) argPhone(str string) (uint64, bool) {
	str = strings.TrimSpace(str)
	if str == "" || len(str) > 32 || strings.Trim(str, "+0123456789 -.()") != "" {
		return 0, false
	}
	var last uint64
	found := false
	s.extract(func(x *extractor) { x.phones(str) }, func(h uint64, _ bool) { last, found = h, true })
	return last, found
}

// phraseOf tells whether words occur in text as a run, in order.
func phraseOf(text, words []uint64) bool {
	for i := 0; i+len(words) <= len(text); i++ {
		if slices.Equal(text[i:i+len(words)], words) {
			return true
		}
	}
	return false
}

// argWords are the words of a short string argument.
func (s *Stage) argWords(str string, words *[]uint64) {
	*words = (*words)[:0]
	s.extract(func(x *extractor) { x.words(str) }, func(h uint64, _ bool) { *words = append(*words, h) })
}

// leafFlow is what is known of one argument leaf, or of an argument.
type leafFlow struct {
	tainted, trusted bool
	link             bool     // tainted by a link or an address
	srcs             []uint16 // source ids; 0: the task's purpose
}

// flowOf computes c.Flow.Tainted, Trusted and Sources for the arguments in,
// from the scope's index, the task's purpose and the user's own input. all:
// every argument counts as tainted (an output was lost or is late). The
// caller holds sc.mu.
//
// A leaf (a string or number) is trusted if it is, as a whole, a value the
// user gave (the purpose, a person's own input, a trusted output field), or
// if every value found in it is, or, for a short string without values, if
// every word of it is. It is tainted if a value found in it, or the string
// as a whole, was seen in untrusted output and is not the user's, unless the
// leaf is trusted. An object or array is tainted if a part is, trusted if
// every part is.
func (s *Stage) flowOf(sc *scope, c *call.Call, in map[string]any, cutoff int64, all bool) {
	purpose := ""
	if c.Task != nil {
		purpose = c.Task.Purpose
	}
	if sc.purposeV == nil || sc.purpose != purpose {
		sc.purpose, sc.purposeV, sc.purposeW = purpose, map[uint64]struct{}{}, nil
		s.extract(func(x *extractor) { x.text(purpose) }, func(h uint64, _ bool) { sc.purposeV[h] = struct{}{} })
		s.extract(func(x *extractor) { x.words(purpose) }, func(h uint64, _ bool) {
			sc.purposeV[h] = struct{}{}
			sc.purposeW = append(sc.purposeW, h)
		})
	}
	var lf leafFlow
	isTrusted := func(h uint64) bool {
		if _, ok := sc.purposeV[h]; ok {
			if !slices.Contains(lf.srcs, 0) {
				lf.srcs = append(lf.srcs, 0)
			}
			return true
		}
		v, ok := sc.values[h]
		return ok && v.trusted > cutoff
	}
	seen := func(h uint64) (untrusted bool) {
		info, ok := sc.values[h]
		if !ok || (info.untrusted <= cutoff && info.trusted <= cutoff) {
			return false
		}
		for _, id := range info.src {
			if id != 0 && !slices.Contains(lf.srcs, id) {
				lf.srcs = append(lf.srcs, id)
			}
		}
		return info.untrusted > cutoff
	}
	var typed, words, legacy []uint64
	var links []bool
	leaf := func(v any) leafFlow {
		lf = leafFlow{}
		whole := s.argValues(v, &typed, &links)
		tainted, link, allTrusted := false, false, true
		for i, h := range typed {
			u := seen(h)
			t := isTrusted(h)
			tainted = tainted || (u && !t)
			link = link || (u && !t && links[i])
			allTrusted = allTrusted && t
		}
		s.argLegacy(v, &legacy)
		for _, h := range legacy {
			if seen(h) && !isTrusted(h) {
				tainted, link = true, true
			}
		}
		wholeTrusted := false
		if whole != 0 {
			u := seen(whole)
			wholeTrusted = isTrusted(whole)
			tainted = tainted || (u && !wholeTrusted)
		}
		switch {
		case wholeTrusted:
			lf.trusted = true
		case len(typed) > 0:
			lf.trusted = allTrusted
		case whole != 0:
			// A short string without values (a name, a channel): trusted
			// if its words are words of the purpose, in the purpose's
			// order and next to each other ("Hotel Lumière" in "book Hotel
			// Lumière in Paris", not "Paris Hotel": a listing named with
			// the request's words is not what the user named), or if each
			// word is a value the user gave elsewhere (a trusted field).
			s.argWords(v.(string), &words)
			if len(words) > 0 && phraseOf(sc.purposeW, words) {
				lf.trusted = isTrusted(words[0]) // notes the purpose as the source
			} else {
				lf.trusted = len(words) > 0
				for _, h := range words {
					info, ok := sc.values[h]
					lf.trusted = lf.trusted && ok && info.trusted > cutoff
				}
			}
		}
		if !lf.trusted {
			// A phone number is the user's if its number is, however the
			// user wrote it ("+44 7700 900123" for "+447700900123": the
			// latter also reads as a number, which the former does not).
			if str, ok := v.(string); ok {
				if h, ok := s.argPhone(str); ok && isTrusted(h) {
					lf.trusted = true
				}
			}
		}
		lf.tainted = all || (tainted && !lf.trusted)
		lf.link = all || (link && !lf.trusted)
		return lf
	}
	var tainted, linked, trusted []string
	sources := map[string][]uint16{}
	var path []string
	var walk func(v any) leafFlow
	merge := func(a *leafFlow, b leafFlow, first bool) {
		a.tainted = a.tainted || b.tainted
		a.link = a.link || b.link
		a.trusted = (first || a.trusted) && b.trusted
		for _, id := range b.srcs {
			if !slices.Contains(a.srcs, id) {
				a.srcs = append(a.srcs, id)
			}
		}
	}
	note := func(lf leafFlow) {
		name := strings.Join(path, ".")
		if lf.tainted {
			tainted = append(tainted, name)
		}
		if lf.link {
			linked = append(linked, name)
		}
		if lf.trusted {
			trusted = append(trusted, name)
		}
		if len(lf.srcs) > 0 {
			sources[name] = lf.srcs
		}
	}
	walk = func(v any) leafFlow {
		switch v := v.(type) {
		case map[string]any:
			var agg leafFlow
			n := 0
			for _, k := range sortedKeys(v) {
				path = append(path, k)
				lf := walk(v[k])
				if len(path) > 1 {
					note(lf)
				}
				merge(&agg, lf, n == 0)
				n++
				path = path[:len(path)-1]
			}
			agg.tainted = agg.tainted || all
			agg.link = agg.link || all
			return agg
		case []any:
			var agg leafFlow
			for i, e := range v {
				merge(&agg, walk(e), i == 0)
			}
			agg.tainted = agg.tainted || all
			agg.link = agg.link || all
			return agg
		case string, json.Number:
			return leaf(v)
		}
		return leafFlow{tainted: all, link: all}
	}
	for _, k := range sortedKeys(in) {
		path = append(path[:0], k)
		note(walk(in[k]))
	}
	sort.Strings(tainted)
	sort.Strings(linked)
	sort.Strings(trusted)
	c.Flow.Tainted = slices.Compact(tainted)
	c.Flow.TaintedLinks = slices.Compact(linked)
	c.Flow.Trusted = slices.Compact(trusted)
	c.Flow.Sources = nil
	if len(sources) > 0 {
		c.Flow.Sources = make(map[string][]call.Source, len(sources))
		for name, ids := range sources {
			ss := make([]call.Source, 0, len(ids))
			for _, id := range ids {
				if id == 0 {
					ss = append(ss, call.Source{Field: "purpose", Label: sourceUser})
				} else {
					ss = append(ss, sc.srcs[id-1])
				}
			}
			sort.Slice(ss, func(i, j int) bool {
				a, b := ss[i], ss[j]
				if a.Tool != b.Tool {
					return a.Tool < b.Tool
				}
				if a.Field != b.Field {
					return a.Field < b.Field
				}
				return a.Label < b.Label
			})
			c.Flow.Sources[name] = slices.Compact(ss)
		}
	}
}
