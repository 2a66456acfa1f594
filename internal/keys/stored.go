package keys

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// DocName is the document of the shared store that holds the keys.
const DocName = "signing-keys"

// storedKeys is the document: the index entries with each key's private
// half (PEM PKCS#8) beside them.
type storedKeys struct {
	Keys []storedKey `json:"keys"`
}

type storedKey struct {
	indexEntry
	Private string `json:"private"`
}

// Stored is the Provider that keeps the keys in a shared store (the
// PostgreSQL database of several replicas): every change (first key,
// rotation, pruning) is one update of one document, which the store
// serialises, so replicas agree on one active key and publish the same set.
// A replica that is told of a change, or meets a kid it does not know,
// reads the document again (Reload).
type Stored struct {
	held
	docs store.Docs
	cfg  Config
	ro   bool
}

var (
	_ Provider = (*Stored)(nil)
	_ Reloader = (*Stored)(nil)
	_ Rotator  = (*Stored)(nil)
)

// OpenStored opens the keys in docs, creating the first key (unless
// read-only) and rotating an active key older than cfg.RotateAfter.
func OpenStored(ctx context.Context, docs store.Docs, where string, cfg Config, opt FileOptions) (*Stored, error) {
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("keys: %s", errs[0])
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Stored{held: held{where: where, retain: cfg.Retain, now: opt.Now}, docs: docs, cfg: cfg, ro: opt.ReadOnly}
	if opt.ReadOnly {
		return s, s.Reload(ctx)
	}
	if err := s.MaybeRotate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload implements Reloader.
func (s *Stored) Reload(ctx context.Context) error {
	b, err := s.docs.Doc(ctx, DocName)
	if errors.Is(err, store.ErrNotFound) {
		s.set(nil)
		return nil
	}
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	ks, err := s.parse(b)
	if err != nil {
		return err
	}
	s.set(ks)
	return nil
}

// Rotate implements Rotator.
func (s *Stored) Rotate(ctx context.Context) (*Key, error) {
	if s.ro {
		return nil, errors.New("keys: read-only")
	}
	if err := s.update(ctx, func(*storedKeys) bool { return true }); err != nil {
		return nil, err
	}
	return s.Active(ctx)
}

// MaybeRotate creates the first key, or rotates the active key when it is
// older than cfg.RotateAfter, and drops keys past their retention. Every
// replica calls it periodically; the first to find it due rotates, the
// others find the new key.
func (s *Stored) MaybeRotate(ctx context.Context) error {
	if s.ro {
		return s.Reload(ctx)
	}
	return s.update(ctx, func(d *storedKeys) bool { return s.index(d).due(s.cfg, s.now()) })
}

// update adds a key when rotate says so and prunes, in one update of the
// document, then holds what it wrote.
func (s *Stored) update(ctx context.Context, rotate func(*storedKeys) bool) error {
	var held []*Key
	err := s.docs.UpdateDoc(ctx, DocName, func(cur []byte) ([]byte, error) {
		d := &storedKeys{}
		if cur != nil {
			if err := json.Unmarshal(cur, d); err != nil {
				return nil, fmt.Errorf("keys: %s: %w", s.where, err)
			}
		}
		dirty := false
		if rotate(d) {
			e, pemKey, err := newKey(s.cfg, s.now())
			if err != nil {
				return nil, err
			}
			idx := s.index(d)
			idx.add(e)
			priv := map[string]string{e.ID: string(pemKey)}
			for _, k := range d.Keys {
				priv[k.ID] = k.Private
			}
			d.Keys = d.Keys[:0]
			for _, e := range idx.Keys {
				d.Keys = append(d.Keys, storedKey{indexEntry: e, Private: priv[e.ID]})
			}
			dirty = true
		}
		kept := d.Keys[:0]
		for _, k := range d.Keys {
			if !k.Retired.IsZero() && !s.now().Before(k.Retired.Add(s.cfg.Retain)) {
				dirty = true // nothing it signed is valid any more
				continue
			}
			kept = append(kept, k)
		}
		d.Keys = kept
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		if held, err = s.parse(b); err != nil {
			return nil, err
		}
		if !dirty {
			return nil, nil
		}
		return b, nil
	})
	if err != nil {
		return err
	}
	s.set(held)
	return nil
}

func (s *Stored) index(d *storedKeys) *index {
	idx := &index{}
	for _, k := range d.Keys {
		idx.Keys = append(idx.Keys, k.indexEntry)
	}
	return idx
}

// parse reads the document, checking each key as File does.
func (s *Stored) parse(b []byte) ([]*Key, error) {
	d := &storedKeys{}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", s.where, err)
	}
	out := make([]*Key, 0, len(d.Keys))
	for _, e := range d.Keys {
		where := fmt.Sprintf("key %s in %s", e.ID, s.where)
		blk, _ := pem.Decode([]byte(e.Private))
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("keys: %s is not a PEM private key", where)
		}
		priv, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: %s: %w", where, err)
		}
		k, err := checkKey(e.indexEntry, priv, where)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}
