// Package pin protects against MCP "rug pulls": a server that shows one tool
// definition when it is approved and another later. The first time toolgate
// sees a tool it pins the definition's digest in the data directory; a later
// definition with another digest is a change that must be accepted (`toolgate
// pin accept`) before it is trusted.
package pin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// DefinitionFields are the members of an MCP tool that make up its pinned
// definition: everything that tells a model (or a policy) what the tool
// does. A change in any of them is a changed definition; other members
// (icons, _meta, execution hints) are not pinned.
var DefinitionFields = []string{"name", "title", "description", "inputSchema", "outputSchema", "annotations"}

// Definition is a tool's pinned definition in canonical form.
type Definition struct {
	Name string
	// Canonical is the definition as canonical JSON: only DefinitionFields,
	// object members sorted, no insignificant space.
	Canonical json.RawMessage
	// Digest is the hex SHA-256 of Canonical.
	Digest string
}

// Define builds the definition of one tool from its JSON object as the
// server listed it.
func Define(tool json.RawMessage) (Definition, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(tool, &fields); err != nil || fields == nil {
		return Definition{}, errors.New("a tool must be a JSON object")
	}
	var name string
	if err := json.Unmarshal(fields["name"], &name); err != nil || name == "" {
		return Definition{}, errors.New(`a tool must have a non-empty string "name"`)
	}
	def := map[string]any{}
	for _, f := range DefinitionFields {
		raw, ok := fields[f]
		if !ok {
			continue
		}
		v, err := decodeExact(raw)
		if err != nil {
			return Definition{}, fmt.Errorf("tool %q: %s: %w", name, f, err)
		}
		def[f] = v
	}
	canon, err := jsonrpc.Marshal(def)
	if err != nil {
		return Definition{}, fmt.Errorf("tool %q: %w", name, err)
	}
	sum := sha256.Sum256(canon)
	return Definition{Name: name, Canonical: canon, Digest: hex.EncodeToString(sum[:])}, nil
}

// decodeExact decodes JSON keeping numbers as written (json.Number), so that
// 1 and 1.0 stay distinct and large integers keep every digit.
func decodeExact(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// ChangedFields names the definition fields that differ between two
// canonical definitions, for messages that say what changed.
func ChangedFields(old, cur json.RawMessage) []string {
	var a, b map[string]json.RawMessage
	_ = json.Unmarshal(old, &a)
	_ = json.Unmarshal(cur, &b)
	var out []string
	for _, f := range DefinitionFields {
		// A pin file stores definitions indented: compare the values, not
		// their layout.
		if !bytes.Equal(compact(a[f]), compact(b[f])) {
			out = append(out, f)
		}
	}
	return out
}

func compact(raw json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}
