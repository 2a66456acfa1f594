package facts

import (
	"strings"
	"unicode"
)

// suggestByToken maps a word of an argument name to a classifier. Plurals
// are listed because tools take lists (read_multiple_files "paths").
var suggestByToken = map[string]string{
	"sql": "sql", "query": "sql", "statement": "sql", "stmt": "sql",
	"command": "shell", "cmd": "shell", "script": "shell", "commands": "shell", "commandline": "shell", "cmdline": "shell",
	"path": "path", "file": "path", "filename": "path", "filepath": "path", "dir": "path", "directory": "path",
	"source": "path", "destination": "path", "paths": "path", "files": "path", "dirs": "path", "folder": "path",
	"src": "path", "dest": "path", "dst": "path",
	"url": "url", "uri": "url", "endpoint": "url", "link": "url", "urls": "url", "uris": "url", "href": "url",
}

// Suggest proposes a classifier for a tool argument from its name and its
// JSON schema, or "" when none fits. It only suggests: config decides. A
// schema "format" of uri wins over the name; a schema type other than a
// string (or an array of strings) rules classification out, since the
// classifiers read strings. Of the name's words ("source_path",
// "targetURL"), the last one that matches wins, because English puts the
// noun that says what the value is last.
func Suggest(argName string, jsonSchema map[string]any) string {
	if jsonSchema != nil {
		s := jsonSchema
		if t, _ := s["type"].(string); t == "array" {
			items, _ := s["items"].(map[string]any)
			if items == nil {
				return ""
			}
			s = items
		}
		if t, ok := s["type"].(string); ok && t != "string" {
			return ""
		}
		switch f, _ := s["format"].(string); f {
		case "uri", "url", "iri", "uri-reference", "iri-reference":
			return "url"
		}
	}
	whole := strings.ToLower(argName)
	if c, ok := suggestByToken[whole]; ok {
		return c
	}
	words := splitName(argName)
	for i := len(words) - 1; i >= 0; i-- {
		if c, ok := suggestByToken[words[i]]; ok {
			return c
		}
	}
	return ""
}

// splitName splits snake_case, kebab-case, dotted and camelCase names into
// lower-case words ("targetURLPath" → target, url, path).
func splitName(name string) []string {
	var words []string
	rs := []rune(name)
	start := 0
	flush := func(end int) {
		if end > start {
			words = append(words, strings.ToLower(string(rs[start:end])))
		}
	}
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush(i)
			start = i + 1
			continue
		}
		if i > start && unicode.IsUpper(r) {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush(i)
				start = i
			}
		}
	}
	flush(len(rs))
	return words
}
