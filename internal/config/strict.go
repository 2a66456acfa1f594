package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DecodeStrict decodes YAML into out and rejects every key that out does not
// have, naming the key's path and position: a misspelt key silently ignored
// in a security product's config is a policy nobody meant.
func DecodeStrict(name string, b []byte, out any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil // empty file: all defaults
	}
	root := doc.Content[0]
	var errs []string
	checkKeys(root, reflect.TypeOf(out).Elem(), "", func(n *yaml.Node, path, msg string) {
		errs = append(errs, fmt.Sprintf("%s:%d:%d: %s: %s", name, n.Line, n.Column, path, msg))
	})
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	if err := root.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for i, e := range te.Errors {
				te.Errors[i] = name + ": " + e
			}
			return errors.New(strings.Join(te.Errors, "\n"))
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func checkKeys(n *yaml.Node, t reflect.Type, path string, report func(*yaml.Node, string, string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				report(k, join(path, k.Value), "unknown key (known: "+strings.Join(sortedKeys(fields), ", ")+")")
				continue
			}
			checkKeys(v, ft, join(path, k.Value), report)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), report)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), report)
		}
	}
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
