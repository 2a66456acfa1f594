package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	goccytoken "github.com/goccy/go-yaml/token"
	"go.yaml.in/yaml/v3"
)

// DecodeStrict decodes YAML into out and rejects every key that out does not
// have and every value that does not fit its key's type, naming the file,
// line, column and key path of each: a misspelt key silently ignored in a
// security product's config is a policy nobody meant, and "cannot
// unmarshal !!int into time.Duration" with no place helps nobody.
func DecodeStrict(name string, b []byte, out any) error {
	_, err := decodeStrict(name, b, out)
	return err
}

// decodeStrict is DecodeStrict that also returns the document's root node
// (nil for an empty document), to place later errors.
func decodeStrict(name string, b []byte, out any) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, syntaxError(name, b, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // empty file: all defaults
	}
	root := doc.Content[0]
	var errs []string
	checkNode(root, reflect.TypeOf(out).Elem(), "", func(n *yaml.Node, path, msg string) {
		errs = append(errs, fmt.Sprintf("%s:%d:%d: %s: %s", name, n.Line, n.Column, orTop(path), msg))
	})
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	if err := root.Decode(out); err != nil {
		// checkNode decodes every leaf the way Decode does, so this is
		// not expected; report it with the decoder's own line numbers.
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for i, e := range te.Errors {
				te.Errors[i] = name + ": " + e
			}
			return nil, errors.New(strings.Join(te.Errors, "\n"))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return root, nil
}

// syntaxError places a syntax error the parser found. go.yaml.in/yaml/v3
// (the decoder) names only a line, often not the one that is wrong; a
// second parser, github.com/goccy/go-yaml, reads the same rejected bytes
// only to place the error: "name:4:4: message", then the lines around it
// with a caret under the column. Nothing it parses is used. If it finds
// no error (the two disagree), the decoder's own message stands, with its
// line.
func syntaxError(name string, b []byte, err error) error {
	if pos, what := locateSyntax(b); pos != nil {
		msg := fmt.Sprintf("%s:%d:%d: %s", name, pos.Line, pos.Column, what)
		if src := snippet(b, pos.Line, pos.Column); src != "" {
			msg += "\n" + src
		}
		return errors.New(msg)
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if _, err := strconv.Atoi(n); err == nil {
				return fmt.Errorf("%s:%s: %s", name, n, tail)
			}
		}
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// locateSyntax asks the second parser where b is wrong (nil: nowhere it
// can tell). A panic of that parser on strange input is its failure to
// locate, never toolgate's failure to report.
func locateSyntax(b []byte) (pos *goccytoken.Position, what string) {
	defer func() {
		if recover() != nil {
			pos = nil
		}
	}()
	_, err := goccyparser.ParseBytes(b, 0)
	var se *goccy.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil || se.Token.Position.Line < 1 || se.Token.Position.Column < 1 {
		return nil, ""
	}
	return se.Token.Position, se.Message
}

// snippet shows line (1-based) of b after the one before it, with a caret
// under col, each line indented and numbered.
func snippet(b []byte, line, col int) string {
	lines := strings.Split(string(b), "\n")
	if line > len(lines) {
		return ""
	}
	var out strings.Builder
	num := func(n int) string { return fmt.Sprintf("  %4d | ", n) }
	if line > 1 {
		out.WriteString(num(line-1) + strings.TrimRight(lines[line-2], "\r") + "\n")
	}
	text := strings.TrimRight(lines[line-1], "\r")
	out.WriteString(num(line) + text + "\n")
	// The caret is placed under the column as the line shows it: a tab
	// before it stays a tab.
	pad := []rune{}
	for i, r := range []rune(text) {
		if i >= col-1 {
			break
		}
		if r == '\t' {
			pad = append(pad, '\t')
		} else {
			pad = append(pad, ' ')
		}
	}
	out.WriteString(strings.Repeat(" ", len(num(line))) + string(pad) + "^")
	return out.String()
}

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// checkNode checks n against the Go type t: keys that t does not have,
// a mapping or list where t wants something else, and every leaf value
// decoded on its own into t, so its error has a place.
func checkNode(n *yaml.Node, t reflect.Type, path string, report func(*yaml.Node, string, string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with nothing: the zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() == reflect.Interface {
		checkLeaf(n, t, path, report)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			report(n, path, "want a mapping of keys ("+strings.Join(sortedKeys(yamlFields(t)), ", ")+"), not "+describe(n))
			return
		}
		fields := yamlFields(t)
		dups := duplicates(n, path, report)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if dups[i] {
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				report(k, join(path, k.Value), "unknown key (known: "+strings.Join(sortedKeys(fields), ", ")+")")
				continue
			}
			checkNode(v, ft, join(path, k.Value), report)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			report(n, path, "want a mapping, not "+describe(n))
			return
		}
		dups := duplicates(n, path, report)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if dups[i] {
				continue
			}
			checkLeaf(k, t.Key(), join(path, k.Value), report)
			checkNode(n.Content[i+1], t.Elem(), join(path, k.Value), report)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			report(n, path, "want a list, not "+describe(n))
			return
		}
		for i, item := range n.Content {
			checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), report)
		}
	default:
		checkLeaf(n, t, path, report)
	}
}

// checkLeaf decodes n into a new t and reports why it does not fit.
func checkLeaf(n *yaml.Node, t reflect.Type, path string, report func(*yaml.Node, string, string)) {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		report(n, path, err.Error())
		return
	}
	if n.Kind != yaml.ScalarNode {
		report(n, path, "want a single value, not "+describe(n))
		return
	}
	v := strconv.Quote(n.Value)
	switch {
	case t == durationType:
		report(n, path, v+" is not a duration: write a number with a unit, such as 30s, 5m or 1h")
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		report(n, path, v+" is not a whole number in range")
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		report(n, path, v+" is not a number")
	case t.Kind() == reflect.Bool:
		report(n, path, v+" is not true or false")
	default:
		msg := te.Errors[0]
		if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
			msg = msg[i+2:]
		}
		report(n, path, msg)
	}
}

// duplicates reports every key of mapping n that an earlier key of n
// already names, at the later key, and returns their indexes in
// n.Content: the decoder refuses them too, but names only a line.
func duplicates(n *yaml.Node, path string, report func(*yaml.Node, string, string)) map[int]bool {
	var dups map[int]bool
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			continue
		}
		if first, ok := seen[k.Value]; ok {
			report(k, join(path, k.Value), fmt.Sprintf("key given twice (first at %d:%d)", first.Line, first.Column))
			if dups == nil {
				dups = map[int]bool{}
			}
			dups[i] = true
			continue
		}
		seen[k.Value] = k
	}
	return dups
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		out[tag] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// locate finds the node of a key path ("servers[0].tools.read.labels[1]")
// in the document, or the nearest ancestor the document has (a required key
// that is missing is reported where its parent is). Map keys may contain
// dots: the longest key that matches wins.
func locate(root *yaml.Node, path string) *yaml.Node {
	n := root
	rest := path
	for n != nil && rest != "" {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		switch {
		case strings.HasPrefix(rest, "["):
			end := strings.IndexByte(rest, ']')
			i, err := strconv.Atoi(rest[1:max(end, 1)])
			if end < 0 || err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return n
			}
			n, rest = n.Content[i], strings.TrimPrefix(rest[end+1:], ".")
		case n.Kind == yaml.MappingNode:
			var best *yaml.Node
			bestLen := -1
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if strings.HasPrefix(rest, k) && len(k) > bestLen &&
					(len(rest) == len(k) || rest[len(k)] == '.' || rest[len(k)] == '[') {
					best, bestLen = n.Content[i+1], len(k)
				}
			}
			if best == nil {
				return n
			}
			n, rest = best, strings.TrimPrefix(rest[bestLen:], ".")
		default:
			return n
		}
	}
	return n
}
