package attack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// TestMain lets the test binary be the lax MCP server (ATTACK_SERVER=lax),
// which appends what it carries out to the file ATTACK_EXEC, one JSON
// object a line (see executed).
func TestMain(m *testing.M) {
	if os.Getenv("ATTACK_SERVER") == "lax" {
		laxServer(os.Stdin, os.Stdout, os.Getenv("ATTACK_EXEC"))
		return
	}
	os.Exit(m.Run())
}

// executed is one thing the lax server carried out.
type executed struct {
	Kind      string          `json:"kind"` // "call", "method" (any other request or notification it acts on), "response"
	Method    string          `json:"method,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Meta      json.RawMessage `json:"meta,omitempty"`
	Line      string          `json:"line"`
}

// lineBreaks are every character at which some reader ends a line
// (Python's str.splitlines is the widest).
func isLineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// laxServer serves until its input ends.
func laxServer(in io.Reader, out io.Writer, execPath string) {
	var mu sync.Mutex
	rec, _ := os.OpenFile(execPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	record := func(e executed) {
		b, _ := json.Marshal(e)
		mu.Lock()
		defer mu.Unlock()
		rec.Write(append(b, '\n'))
	}
	w := bufio.NewWriter(out)
	send := func(v any) {
		b, _ := json.Marshal(v)
		w.Write(append(b, '\n'))
		w.Flush()
	}
	reply := func(id any, result any) {
		if id != nil {
			send(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
		}
	}
	ro := map[string]any{"readOnlyHint": true}
	obj := map[string]any{"type": "object"}
	tools := []map[string]any{
		{"name": "read_file", "description": "Read a file", "inputSchema": obj, "annotations": ro},
		{"name": "delete_file", "description": "Delete a file", "inputSchema": obj, "annotations": map[string]any{"destructiveHint": true}},
		{"name": "exec_cmd", "description": "Run a command", "inputSchema": obj},
		// For the fault tests: slow says "slow started <id>" (a log
		// notification) and answers when released or when its input ends;
		// release answers every slow call; crash exits.
		{"name": "slow", "inputSchema": obj, "annotations": ro},
		{"name": "release", "inputSchema": obj, "annotations": ro},
		{"name": "crash", "inputSchema": obj, "annotations": ro},
	}
	var slow []any // ids of slow calls not answered yet
	release := func() {
		for _, id := range slow {
			reply(id, map[string]any{"content": []any{map[string]any{"type": "text", "text": "slow done"}}})
		}
		slow = nil
	}
	handle := func(m map[string]any, line string) {
		method, _ := m["method"].(string)
		method = strings.ToLower(method)
		id := m["id"]
		params, _ := m["params"].(map[string]any)
		switch {
		case method == "":
			record(executed{Kind: "response", Line: line})
		case method == "initialize":
			v, _ := params["protocolversion"].(string)
			if v == "" {
				v = "2025-06-18"
			}
			reply(id, map[string]any{"protocolVersion": v, "capabilities": map[string]any{"tools": map[string]any{}},
				"serverInfo": map[string]any{"name": "lax", "version": "1"}})
		case method == "tools/list":
			reply(id, map[string]any{"tools": tools})
		case method == "ping":
			reply(id, map[string]any{})
		case method == "tools/call":
			name, _ := params["name"].(string)
			args, _ := json.Marshal(params["arguments"])
			meta, _ := json.Marshal(params["_meta"])
			record(executed{Kind: "call", Name: name, Arguments: args, Meta: meta, Line: line})
			switch name {
			case "slow":
				if id != nil {
					slow = append(slow, id)
					idText, _ := json.Marshal(id)
					send(map[string]any{"jsonrpc": "2.0", "method": "notifications/message",
						"params": map[string]any{"level": "info", "data": "slow started " + string(idText)}})
				}
				return
			case "release":
				release()
			case "crash":
				os.Exit(3)
			}
			reply(id, map[string]any{"content": []any{map[string]any{"type": "text", "text": "done: " + name}}})
		case method == "notifications/cancelled":
			if p, ok := params["requestid"]; ok {
				for i, id := range slow {
					if fmt.Sprint(id) == fmt.Sprint(p) {
						slow = append(slow[:i], slow[i+1:]...)
						break
					}
				}
			}
		case strings.HasPrefix(method, "notifications/"):
			// Other notifications change nothing here.
		default:
			record(executed{Kind: "method", Method: method, Line: line})
			reply(id, map[string]any{})
		}
	}
	br := bufio.NewReader(in)
	var frag []byte
	flush := func() {
		line := strings.TrimSpace(string(frag))
		frag = frag[:0]
		if line == "" {
			return
		}
		v, err := laxDecode([]byte(line))
		if err != nil {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			handle(v, line)
		case []any:
			for _, it := range v {
				if m, ok := it.(map[string]any); ok {
					handle(m, line)
				}
			}
		}
	}
	for {
		r, size, err := br.ReadRune()
		if err != nil {
			flush()
			release()
			return
		}
		if r == utf8.RuneError && size == 1 {
			frag = append(frag, 0xff)
			continue
		}
		if isLineBreak(r) {
			flush()
			continue
		}
		frag = utf8.AppendRune(frag, r)
	}
}

// laxDecode reads JSON as the most permissive servers do: member names in
// any letter case are one member (folded to lower case), the last one wins.
func laxDecode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return laxValue(dec)
}

func laxValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := laxValue(dec)
				if err != nil {
					return nil, err
				}
				m[strings.ToLower(k.(string))] = v
			}
			_, err := dec.Token()
			return m, err
		case '[':
			var a []any
			for dec.More() {
				v, err := laxValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token()
			return a, err
		}
	}
	return tok, nil
}
