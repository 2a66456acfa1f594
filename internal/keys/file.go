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
	"regexp"
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

	held
	seen os.FileInfo // the index the keys were read from (nil: none); guarded by held.mu
}

// held are the keys a provider has read, active first, then retired,
// newest first.
type held struct {
	where  string // where the keys are kept, for messages
	retain time.Duration
	now    func() time.Time

	mu   sync.RWMutex
	keys []*Key
}

func (h *held) set(ks []*Key) {
	h.mu.Lock()
	h.keys = ks
	h.mu.Unlock()
}

// Active implements Provider.
func (h *held) Active(context.Context) (*Key, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.keys) == 0 || !h.keys[0].Retired.IsZero() {
		return nil, fmt.Errorf("keys: no active signing key in %s", h.where)
	}
	return h.keys[0], nil
}

// Published implements Provider: the active key and the retired keys that
// are still within cfg.Retain of their retirement.
func (h *held) Published(context.Context) ([]*Key, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	now := h.now()
	out := make([]*Key, 0, len(h.keys))
	for _, k := range h.keys {
		if k.Retired.IsZero() || now.Before(k.Retired.Add(h.retain)) {
			out = append(out, k)
		}
	}
	return out, nil
}

var (
	_ Provider  = (*File)(nil)
	_ Reloader  = (*File)(nil)
	_ Rotator   = (*File)(nil)
	_ Refresher = (*File)(nil)
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
	f.held = held{where: f.dir, retain: cfg.Retain, now: opt.Now}
	if opt.ReadOnly {
		return f, f.Reload(context.Background())
	}
	if err := f.MaybeRotate(context.Background()); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload implements Reloader: it reads the index and key files again.
func (f *File) Reload(context.Context) error {
	idx, fi, err := f.readIndex()
	if err != nil {
		return err
	}
	ks, err := f.loadKeys(idx)
	if err != nil {
		return err
	}
	f.setFrom(ks, fi)
	return nil
}

func (f *File) setFrom(ks []*Key, index os.FileInfo) {
	f.mu.Lock()
	f.keys, f.seen = ks, index
	f.mu.Unlock()
}

// Refresh implements Refresher: it reloads the keys if the index on disk is
// not the one they were read from (another process rotated or pruned). The
// index is replaced by a rename whenever it changes, so a stat tells.
func (f *File) Refresh(ctx context.Context) error {
	fi, err := os.Stat(filepath.Join(f.dir, indexFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keys: %w", err)
	}
	f.mu.RLock()
	seen := f.seen
	f.mu.RUnlock()
	switch {
	case fi == nil && seen == nil:
		return nil
	case fi != nil && seen != nil && os.SameFile(fi, seen) && fi.ModTime().Equal(seen.ModTime()) && fi.Size() == seen.Size():
		return nil
	}
	return f.Reload(ctx)
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
		if !idx.due(f.cfg, f.opt.Now()) {
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
	idx, fi, err := f.readIndex()
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
		if fi, err = os.Stat(filepath.Join(f.dir, indexFile)); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
	}
	ks, err := f.loadKeys(idx)
	if err != nil {
		return err
	}
	f.setFrom(ks, fi)
	return nil
}

// addKey generates a key, writes it, retires the active one and prunes.
func (f *File) addKey(idx *index) error {
	e, pemKey, err := newKey(f.cfg, f.opt.Now())
	if err != nil {
		return err
	}
	if err := writePrivate(filepath.Join(f.dir, e.ID+".key"), pemKey); err != nil {
		return err
	}
	idx.add(e)
	f.prune(idx)
	return nil
}

// newKey generates a key of the configured algorithm: its index entry and
// its private key as PEM (PKCS#8).
func newKey(cfg Config, now time.Time) (indexEntry, []byte, error) {
	alg := jose.SignatureAlgorithm(cfg.Algorithm)
	priv, err := generate(alg)
	if err != nil {
		return indexEntry{}, nil, err
	}
	kid, err := thumbprint(priv.(crypto.Signer).Public())
	if err != nil {
		return indexEntry{}, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return indexEntry{}, nil, fmt.Errorf("keys: encode: %w", err)
	}
	e := indexEntry{ID: kid, Algorithm: string(alg), Created: now.UTC().Truncate(time.Second)}
	return e, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// add makes e the active key and retires the one before.
func (idx *index) add(e indexEntry) {
	for i := range idx.Keys {
		if idx.Keys[i].Retired.IsZero() {
			idx.Keys[i].Retired = e.Created
		}
	}
	idx.Keys = append([]indexEntry{e}, idx.Keys...)
}

// due tells whether the index needs a new active key at now.
func (idx *index) due(cfg Config, now time.Time) bool {
	return len(idx.Keys) == 0 || !idx.Keys[0].Retired.IsZero() || now.Sub(idx.Keys[0].Created) >= cfg.RotateAfter
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

// readIndex reads the index and returns it with the file's stat, taken
// before it was read (nil if there is none): if the file changes in
// between, the next Refresh reads it again.
func (f *File) readIndex() (*index, os.FileInfo, error) {
	idx := &index{}
	path := filepath.Join(f.dir, indexFile)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	b, err := readPrivate(path)
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	if err := idx.check(); err != nil {
		return nil, nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	return idx, fi, nil
}

// kidRE is the form of a key id: an RFC 7638 SHA-256 thumbprint, base64url.
// Key ids name files, so nothing else is accepted from an index.
var kidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// check refuses an index with a key id that is not a thumbprint (it would
// be joined into a path: "../x" reads or deletes a file elsewhere) or that
// is listed twice.
func (idx *index) check() error {
	seen := map[string]bool{}
	for _, e := range idx.Keys {
		if !kidRE.MatchString(e.ID) {
			return fmt.Errorf("%q is not a key id (a base64url SHA-256 thumbprint): the index was not written by toolgate", e.ID)
		}
		if seen[e.ID] {
			return fmt.Errorf("key %s is listed twice", e.ID)
		}
		seen[e.ID] = true
	}
	return nil
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
		k, err := checkKey(e, priv, path)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// checkKey makes the Key of an index entry and its private key, read from
// where, checking that they agree: the algorithm fits the key, and the kid
// is the key's thumbprint (a swapped key is caught here).
func checkKey(e indexEntry, priv crypto.PrivateKey, where string) (*Key, error) {
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: %s: not a signing key", where)
	}
	pub := signer.Public()
	alg := jose.SignatureAlgorithm(e.Algorithm)
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if alg != EdDSA {
			return nil, fmt.Errorf("keys: %s is Ed25519 but indexed as %s", where, alg)
		}
	case *ecdsa.PublicKey:
		if alg != ES256 || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("keys: %s is not a P-256 key for %s", where, alg)
		}
	default:
		return nil, fmt.Errorf("keys: %s: unsupported key type %T", where, pub)
	}
	if kid, err := thumbprint(pub); err != nil || kid != e.ID {
		return nil, fmt.Errorf("keys: %s does not hold the key %s", where, e.ID)
	}
	return &Key{ID: e.ID, Algorithm: alg, Public: pub, Signing: priv, Created: e.Created, Retired: e.Retired}, nil
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
