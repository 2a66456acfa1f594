// Package catalog knows the servers and tools toolgate fronts: trust and
// labels from the configuration, annotations pinned from the upstream (or
// stated by the caller) with the operator's overrides on top, and the shape
// of each tool's input schema for number conversion.
package catalog

import (
	"bytes"
	"context"
	"sync"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/config"
)

// Catalog implements enforce.Catalog.
type Catalog struct {
	cfg *config.Config

	mu     sync.RWMutex
	shapes map[string]shapeEntry
}

// maxShapes bounds the compiled schemas kept; a full cache is emptied.
const maxShapes = 4096

type shapeEntry struct {
	schema []byte
	shape  *cedarjson.Shape
}

// New builds a catalog over the configuration.
func New(cfg *config.Config) *Catalog {
	return &Catalog{cfg: cfg, shapes: map[string]shapeEntry{}}
}

// Describe fills in the call's server and tool descriptors. A server the
// configuration does not name is untrusted with no labels.
func (k *Catalog) Describe(_ context.Context, c *call.Call) (*cedarjson.Shape, error) {
	c.Server.Trust = "untrusted"
	if s := k.cfg.Server(c.Server.Name); s != nil {
		c.Server.Trust = s.Trust
		c.Server.Labels = s.Labels
		if t, ok := s.Tools[c.Tool.Name]; ok {
			c.Tool.Annotations = c.Tool.Annotations.Merge(t.Annotations)
			c.Tool.Labels = append(append([]string(nil), c.Tool.Labels...), t.Labels...)
			c.Tool.Outputs = t.Outputs
		}
	}
	if len(c.Tool.InputSchema) == 0 {
		return nil, nil
	}
	return k.shape(c.Action(), c.Tool.InputSchema)
}

// shape compiles a tool's input schema once per distinct schema. Comparing
// the schema bytes is cheaper than hashing them on every call.
func (k *Catalog) shape(key string, schema []byte) (*cedarjson.Shape, error) {
	k.mu.RLock()
	e, ok := k.shapes[key]
	k.mu.RUnlock()
	if ok && bytes.Equal(e.schema, schema) {
		return e.shape, nil
	}
	s, err := cedarjson.CompileSchema(schema)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.shapes) >= maxShapes {
		// Action names can come from callers (AuthZEN): stay bounded.
		k.shapes = map[string]shapeEntry{}
	}
	k.shapes[key] = shapeEntry{schema: bytes.Clone(schema), shape: s}
	k.mu.Unlock()
	return s, nil
}
