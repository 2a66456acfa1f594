package audit

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/toolgate/toolgate/internal/datafile"
	"github.com/toolgate/toolgate/internal/store"
)

// Key files in the data directory.
const (
	// SigningKeyFile holds the Ed25519 key that signs checkpoints (PEM,
	// PKCS#8), created 0600 on first use.
	SigningKeyFile = "audit-signing.key"
	// PublicKeysFile holds the public half of every signing key this data
	// directory has had (PEM "PUBLIC KEY" blocks, PKIX), so checkpoints
	// signed before a key was replaced still verify. Copy it somewhere an
	// attacker of this host cannot write: verify is only as good as the
	// public key it trusts.
	PublicKeysFile = "audit-signing.pub"
	// RedactionKeyFile holds the HMAC-SHA256 key of redaction tokens (32
	// random bytes, hex), created 0600 on first use.
	RedactionKeyFile = "audit-redaction.key"
)

// KeyID names a public key in checkpoints: the first 8 bytes of the SHA-256
// of its raw 32 bytes, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// LoadOrCreateSigningKey reads the signing key from dir, or creates it (and
// appends its public key to PublicKeysFile) if there is none.
func LoadOrCreateSigningKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, SigningKeyFile)
	k, err := readPrivateKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("audit: generate signing key: %w", gerr)
		}
		der, merr := x509.MarshalPKCS8PrivateKey(priv)
		if merr != nil {
			return nil, fmt.Errorf("audit: encode signing key: %w", merr)
		}
		created, werr := createPrivate(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if werr != nil {
			return nil, werr
		}
		if created {
			if err := appendPublicKey(dir, priv.Public().(ed25519.PublicKey)); err != nil {
				return nil, err
			}
		}
		// Another process may have won the race to create it: read
		// whatever is there now.
		k, err = readPrivateKey(path)
	}
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit: %s is not an Ed25519 key", path)
	}
	// Make sure the public key is on record even if the .pub file was lost.
	pubs, _ := LoadPublicKeys(filepath.Join(dir, PublicKeysFile))
	pub := priv.Public().(ed25519.PublicKey)
	for _, p := range pubs {
		if p.Equal(pub) {
			return priv, nil
		}
	}
	if err := appendPublicKey(dir, pub); err != nil {
		return nil, err
	}
	return priv, nil
}

func appendPublicKey(dir string, pub ed25519.PublicKey) error {
	blk, err := publicKeyPEM(pub)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, PublicKeysFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(blk); err != nil {
		return fmt.Errorf("audit: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: fsync %s: %w", path, err)
	}
	return nil
}

// LoadPublicKeys reads every PEM "PUBLIC KEY" block (Ed25519) of a file.
func LoadPublicKeys(path string) ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return parsePublicKeys(b, path)
}

func parsePublicKeys(b []byte, where string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", where, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("audit: %s: a public key is not Ed25519", where)
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("audit: %s holds no public key", where)
	}
	return out, nil
}

// LoadOrCreateRedactionKey reads the HMAC key from dir, or creates it.
func LoadOrCreateRedactionKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, RedactionKeyFile)
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("audit: generate redaction key: %w", err)
		}
		if _, err := createPrivate(path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
			return nil, err
		}
		b, err = readPrivate(path)
	}
	if err != nil {
		return nil, err
	}
	return parseRedactionKey(b, path)
}

// LoadRedactionKey reads the HMAC key from dir; it does not create one.
func LoadRedactionKey(dir string) ([]byte, error) {
	b, err := readPrivate(filepath.Join(dir, RedactionKeyFile))
	if err != nil {
		return nil, err
	}
	return parseRedactionKey(b, filepath.Join(dir, RedactionKeyFile))
}

func readPrivate(path string) ([]byte, error) {
	b, err := datafile.ReadPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return b, nil
}

func readPrivateKey(path string) (crypto.PrivateKey, error) {
	k, err := datafile.ReadPrivateKey(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return k, nil
}

func createPrivate(path string, data []byte) (bool, error) {
	ok, err := datafile.CreateExclusive(path, data)
	if err != nil {
		return false, fmt.Errorf("audit: %w", err)
	}
	return ok, nil
}

// Documents of a shared store (replicas on PostgreSQL) that hold the
// trail's keys, as the files above do in a data directory.
const (
	SigningKeyDoc   = "audit-signing-key"   // PEM PKCS#8 Ed25519
	PublicKeysDoc   = "audit-signing-pub"   // PEM PUBLIC KEY blocks, as PublicKeysFile
	RedactionKeyDoc = "audit-redaction-key" // hex, as RedactionKeyFile
)

// LoadOrCreateSharedKeys reads the signing and redaction keys from a shared
// store, creating each on first use. Replicas starting together agree: the
// store serialises the updates, and the first key written stands.
func LoadOrCreateSharedKeys(ctx context.Context, docs store.Docs) (ed25519.PrivateKey, []byte, error) {
	var priv ed25519.PrivateKey
	err := docs.UpdateDoc(ctx, SigningKeyDoc, func(cur []byte) ([]byte, error) {
		if cur != nil {
			k, err := parseSigningKey(cur, SigningKeyDoc)
			priv = k
			return nil, err
		}
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("audit: generate signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("audit: encode signing key: %w", err)
		}
		priv = k
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("audit: signing key: %w", err)
	}
	// Its public half is on record, so checkpoints verify after a new key.
	pub := priv.Public().(ed25519.PublicKey)
	err = docs.UpdateDoc(ctx, PublicKeysDoc, func(cur []byte) ([]byte, error) {
		pubs, _ := parsePublicKeys(cur, PublicKeysDoc)
		for _, p := range pubs {
			if p.Equal(pub) {
				return nil, nil
			}
		}
		blk, err := publicKeyPEM(pub)
		if err != nil {
			return nil, err
		}
		return append(append([]byte(nil), cur...), blk...), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("audit: public keys: %w", err)
	}
	red, err := LoadOrCreateSharedRedactionKey(ctx, docs)
	if err != nil {
		return nil, nil, err
	}
	return priv, red, nil
}

// LoadOrCreateSharedRedactionKey reads the redaction key from a shared
// store, creating it on first use.
func LoadOrCreateSharedRedactionKey(ctx context.Context, docs store.Docs) ([]byte, error) {
	var red []byte
	err := docs.UpdateDoc(ctx, RedactionKeyDoc, func(cur []byte) ([]byte, error) {
		if cur != nil {
			k, err := parseRedactionKey(cur, RedactionKeyDoc)
			red = k
			return nil, err
		}
		red = make([]byte, 32)
		if _, err := rand.Read(red); err != nil {
			return nil, fmt.Errorf("audit: generate redaction key: %w", err)
		}
		return []byte(hex.EncodeToString(red) + "\n"), nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: redaction key: %w", err)
	}
	return red, nil
}

// SharedPublicKeys reads the public keys of a shared store's trail.
func SharedPublicKeys(ctx context.Context, docs store.Docs) ([]ed25519.PublicKey, error) {
	b, err := docs.Doc(ctx, PublicKeysDoc)
	if err != nil {
		return nil, fmt.Errorf("audit: public keys: %w", err)
	}
	return parsePublicKeys(b, PublicKeysDoc)
}

// SharedRedactionKey reads the redaction key of a shared store; it does not
// create one.
func SharedRedactionKey(ctx context.Context, docs store.Docs) ([]byte, error) {
	b, err := docs.Doc(ctx, RedactionKeyDoc)
	if err != nil {
		return nil, fmt.Errorf("audit: redaction key: %w", err)
	}
	return parseRedactionKey(b, RedactionKeyDoc)
}

func parseSigningKey(b []byte, where string) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit: %s is not a PEM private key", where)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", where, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit: %s is not an Ed25519 key", where)
	}
	return priv, nil
}

func parseRedactionKey(b []byte, where string) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("audit: %s is not a hex key of at least 16 bytes", where)
	}
	return key, nil
}

func publicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("audit: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Key-Id": KeyID(pub)}, Bytes: der}), nil
}
