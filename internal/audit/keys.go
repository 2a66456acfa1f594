package audit

import (
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
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("audit: encode public key: %w", err)
	}
	path := filepath.Join(dir, PublicKeysFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	blk := &pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Key-Id": KeyID(pub)}, Bytes: der}
	if _, err := f.Write(pem.EncodeToMemory(blk)); err != nil {
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
			return nil, fmt.Errorf("audit: %s: %w", path, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("audit: %s: a public key is not Ed25519", path)
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("audit: %s holds no public key", path)
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
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("audit: %s is not a hex key of at least 16 bytes", path)
	}
	return key, nil
}

// LoadRedactionKey reads the HMAC key from dir; it does not create one.
func LoadRedactionKey(dir string) ([]byte, error) {
	b, err := readPrivate(filepath.Join(dir, RedactionKeyFile))
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("audit: %s is not a hex key of at least 16 bytes", filepath.Join(dir, RedactionKeyFile))
	}
	return key, nil
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
