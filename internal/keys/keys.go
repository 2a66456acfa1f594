// Package keys holds toolgate's own signing keys and the JWTs it signs with
// them: task tokens now, per-call credentials later. Keys are Ed25519
// (EdDSA) or ECDSA P-256 (ES256). A Provider holds them — the file provider
// keeps them in the data directory; an HSM or KMS provider implements the
// same interface — and rotation retires the active key without unpublishing
// it, so tokens signed before a rotation verify until they expire.
//
// This package is a leaf: internal/config embeds Config, so nothing here may
// import the configuration or the packages that do.
package keys

import (
	"context"
	"crypto"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithms toolgate signs with. Nothing else is accepted on verification:
// in particular no "none" and no HMAC, so a public key can never be used as
// a shared secret.
const (
	EdDSA = jose.EdDSA
	ES256 = jose.ES256
)

// Algorithms lists the signature algorithms of toolgate's own tokens.
var Algorithms = []jose.SignatureAlgorithm{EdDSA, ES256}

// Key is one signing key.
type Key struct {
	// ID is the key's "kid": its RFC 7638 JWK thumbprint (SHA-256,
	// base64url), so it names the public key itself.
	ID        string
	Algorithm jose.SignatureAlgorithm
	Public    crypto.PublicKey
	// Signing is what go-jose signs with: the private key, or a
	// jose.OpaqueSigner for a key held in an HSM or KMS. Nil for a key that
	// only verifies.
	Signing any
	Created time.Time
	// Retired is when the key stopped signing (zero while it is active).
	Retired time.Time
}

// JWK returns the key's public half as a JWK.
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Public, KeyID: k.ID, Algorithm: string(k.Algorithm), Use: "sig"}
}

// Provider holds toolgate's signing keys.
type Provider interface {
	// Active returns the key that signs new tokens.
	Active(ctx context.Context) (*Key, error)
	// Published returns every key whose tokens may still be valid: the
	// active key first, then retired keys until tokens signed with them
	// have expired. Verification and the JWKS use exactly this set.
	Published(ctx context.Context) ([]*Key, error)
}

// Reloader is a Provider whose keys can change outside this process (another
// toolgate process rotated them): Reload reads them again.
type Reloader interface {
	Reload(ctx context.Context) error
}

// Refresher is a Provider that can tell cheaply whether its keys changed
// outside this process, and reload them if so.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// Rotator is a Provider that can rotate: a new key becomes active and the
// previous one is retired (still published).
type Rotator interface {
	Rotate(ctx context.Context) (*Key, error)
}

// Config is the `keys:` part of toolgate's configuration.
type Config struct {
	// Algorithm of new keys: "EdDSA" (Ed25519, default) or "ES256".
	Algorithm string `yaml:"algorithm"`
	// Issuer is the "iss" of every token toolgate signs (default
	// "toolgate"); verification requires it.
	Issuer string `yaml:"issuer"`
	// RotateAfter is the age at which the active key is replaced (default
	// 720h, 30 days); `toolgate serve` checks it at start and hourly.
	RotateAfter time.Duration `yaml:"rotate_after"`
	// Retain is how long a retired key stays published (default 25h). It
	// must be at least the lifetime of the longest token toolgate signs
	// (tasks.max_ttl), or tokens would stop verifying before they expire.
	Retain time.Duration `yaml:"retain"`
}

// Defaults.
const (
	DefaultIssuer      = "toolgate"
	DefaultRotateAfter = 30 * 24 * time.Hour
	DefaultRetain      = 25 * time.Hour
)

// ApplyDefaults fills in every unset field.
func (c *Config) ApplyDefaults() {
	if c.Algorithm == "" {
		c.Algorithm = string(EdDSA)
	}
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.RotateAfter == 0 {
		c.RotateAfter = DefaultRotateAfter
	}
	if c.Retain == 0 {
		c.Retain = DefaultRetain
	}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []string {
	var errs []string
	switch jose.SignatureAlgorithm(c.Algorithm) {
	case EdDSA, ES256:
	default:
		errs = append(errs, fmt.Sprintf("algorithm: %q is not EdDSA or ES256", c.Algorithm))
	}
	if c.RotateAfter < time.Hour {
		errs = append(errs, fmt.Sprintf("rotate_after: %s is less than 1h", c.RotateAfter))
	}
	if c.Retain < time.Minute {
		errs = append(errs, fmt.Sprintf("retain: %s is less than 1m", c.Retain))
	}
	return errs
}
