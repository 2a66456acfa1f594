package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/toolgate/toolgate/internal/datafile"
)

// Dir is the keys' directory inside the data directory.
const Dir = "keys"

// indexFile lists the keys with their state; each key's private half is in
// "<kid>.key" beside it (PEM PKCS#8, mode 0600).
const indexFile = "index.json"

type indexEntry struct {
	ID        string    `json:"kid"`
	Algorithm string    `json:"alg"`
	Created   time.Time `json:"created"`
	Retired   time.Time `json:"retired,omitzero"`
}

type index struct {
	Keys []indexEntry `json:"keys"`
}

// FileOptions tune OpenFile.
type FileOptions struct {
	// ReadOnly never creates, rotates or deletes a key: with no key on
	// disk, Active fails and Published is empty.
	ReadOnly bool
	// Now is the clock (tests).
	Now func() time.Time
}

// File is the Provider that keeps keys in the data directory. Every change
// (first key, rotation, pruning) happens under an exclusive lock on the
// directory, so several toolgate processes sharing a data directory agree on
// one active key.
type File struct {
	dir string
	cfg Config
	opt FileOptions

	mu   sync.RWMutex
	keys []*Key // active first, then retired, newest first
}

var (
	_ Provider = (*File)(nil)
	_ Reloader = (*File)(nil)
	_ Rotator  = (*File)(nil)
)

// OpenFile opens the keys in dataDir/keys, creating the first key (unless
// read-only) and rotating an active key older than cfg.RotateAfter.
func OpenFile(dataDir string, cfg Config, opt FileOptions) (*File, error) {
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("keys: %s", errs[0])
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	f := &File{dir: filepath.Join(dataDir, Dir), cfg: cfg, opt: opt}
	if opt.ReadOnly {
		return f, f.Reload(context.Background())
	}
	if err := f.MaybeRotate(context.Background()); err != nil {
		return nil, err
	}
	return f, nil
}

// Active implements Provider.
func (f *File) Active(context.Context) (*Key, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.keys) == 0 || !f.keys[0].Retired.IsZero() {
		return nil, fmt.Errorf("keys: no active signing key in %s", f.dir)
	}
	return f.keys[0], nil
}

// Published implements Provider: the active key and the retired keys that
// are still within cfg.Retain of their retirement.
func (f *File) Published(context.Context) ([]*Key, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	now := f.opt.Now()
	out := make([]*Key, 0, len(f.keys))
	for _, k := range f.keys {
		if k.Retired.IsZero() || now.Before(k.Retired.Add(f.cfg.Retain)) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Reload implements Reloader: it reads the index and key files again.
func (f *File) Reload(context.Context) error {
	idx, err := f.readIndex()
	if err != nil {
		return err
	}
	ks, err := f.loadKeys(idx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.keys = ks
	f.mu.Unlock()
	return nil
}

// Rotate implements Rotator: a new key becomes active, the previous active
// key is retired, and keys retired longer than cfg.Retain are deleted.
func (f *File) Rotate(ctx context.Context) (*Key, error) {
	if f.opt.ReadOnly {
		return nil, errors.New("keys: read-only")
	}
	err := f.locked(func(idx *index) (bool, error) {
		return true, f.addKey(idx)
	})
	if err != nil {
		return nil, err
	}
	return f.Active(ctx)
}

// MaybeRotate creates the first key, or rotates the active key when it is
// older than cfg.RotateAfter; it also deletes keys past their retention.
// Long-running processes call it periodically.
func (f *File) MaybeRotate(context.Context) error {
	if f.opt.ReadOnly {
		return nil
	}
	return f.locked(func(idx *index) (bool, error) {
		now := f.opt.Now()
		if len(idx.Keys) > 0 && idx.Keys[0].Retired.IsZero() && now.Sub(idx.Keys[0].Created) < f.cfg.RotateAfter {
			return f.prune(idx), nil
		}
		return true, f.addKey(idx)
	})
}

// locked runs change on the index under the directory lock, writes the index
// back if change says so, and reloads the keys.
func (f *File) locked(change func(*index) (bool, error)) error {
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	unlock, err := datafile.Lock(filepath.Join(f.dir, ".lock"))
	if err != nil {
		return fmt.Errorf("keys: lock %s: %w", f.dir, err)
	}
	defer unlock()
	idx, err := f.readIndex()
	if err != nil {
		return err
	}
	dirty, err := change(idx)
	if err != nil {
		return err
	}
	if dirty {
		if err := f.writeIndex(idx); err != nil {
			return err
		}
	}
	ks, err := f.loadKeys(idx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.keys = ks
	f.mu.Unlock()
	return nil
}

// addKey generates a key, writes it, retires the active one and prunes.
func (f *File) addKey(idx *index) error {
	now := f.opt.Now().UTC().Truncate(time.Second)
	alg := jose.SignatureAlgorithm(f.cfg.Algorithm)
	priv, err := generate(alg)
	if err != nil {
		return err
	}
	pub := priv.(crypto.Signer).Public()
	kid, err := thumbprint(pub)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("keys: encode: %w", err)
	}
	if err := writePrivate(filepath.Join(f.dir, kid+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return err
	}
	for i := range idx.Keys {
		if idx.Keys[i].Retired.IsZero() {
			idx.Keys[i].Retired = now
		}
	}
	idx.Keys = append([]indexEntry{{ID: kid, Algorithm: string(alg), Created: now}}, idx.Keys...)
	f.prune(idx)
	return nil
}

// prune drops keys retired longer than cfg.Retain ago; it reports whether
// the index changed. Their files are deleted: nothing they signed is valid.
func (f *File) prune(idx *index) bool {
	now := f.opt.Now()
	kept := idx.Keys[:0]
	changed := false
	for _, e := range idx.Keys {
		if !e.Retired.IsZero() && !now.Before(e.Retired.Add(f.cfg.Retain)) {
			_ = os.Remove(filepath.Join(f.dir, e.ID+".key"))
			changed = true
			continue
		}
		kept = append(kept, e)
	}
	idx.Keys = kept
	return changed
}

func generate(alg jose.SignatureAlgorithm) (crypto.PrivateKey, error) {
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
}

func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

func (f *File) readIndex() (*index, error) {
	idx := &index{}
	b, err := readPrivate(filepath.Join(f.dir, indexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", filepath.Join(f.dir, indexFile), err)
	}
	return idx, nil
}

func (f *File) writeIndex(idx *index) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return writePrivate(filepath.Join(f.dir, indexFile), append(b, '\n'))
}

// loadKeys reads the private key of every indexed key that is still
// published (others are never used).
func (f *File) loadKeys(idx *index) ([]*Key, error) {
	out := make([]*Key, 0, len(idx.Keys))
	for _, e := range idx.Keys {
		path := filepath.Join(f.dir, e.ID+".key")
		priv, err := datafile.ReadPrivateKey(path)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("keys: %s: not a signing key", path)
		}
		pub := signer.Public()
		alg := jose.SignatureAlgorithm(e.Algorithm)
		switch k := pub.(type) {
		case ed25519.PublicKey:
			if alg != EdDSA {
				return nil, fmt.Errorf("keys: %s is Ed25519 but indexed as %s", path, alg)
			}
		case *ecdsa.PublicKey:
			if alg != ES256 || k.Curve != elliptic.P256() {
				return nil, fmt.Errorf("keys: %s is not a P-256 key for %s", path, alg)
			}
		default:
			return nil, fmt.Errorf("keys: %s: unsupported key type %T", path, pub)
		}
		// The file name is the thumbprint: a swapped file is caught here.
		if kid, err := thumbprint(pub); err != nil || kid != e.ID {
			return nil, fmt.Errorf("keys: %s does not hold the key %s", path, e.ID)
		}
		out = append(out, &Key{ID: e.ID, Algorithm: alg, Public: pub, Signing: priv, Created: e.Created, Retired: e.Retired})
	}
	return out, nil
}

func readPrivate(path string) ([]byte, error) {
	b, err := datafile.ReadPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return b, nil
}

func writePrivate(path string, data []byte) error {
	if err := datafile.WriteAtomic(path, data); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}
