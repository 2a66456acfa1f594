// Package identity is the identify stage of the pipeline: it verifies the
// credential a caller presents — an OIDC/OAuth JWT from any configured
// provider, or an API key for development — and maps it to the principal
// policies see (Agent or User, groups, the human the agent acts for, claims
// as entity tags, the RFC 8693 delegation chain). A call that presents
// nothing keeps the principal its front door stated (AuthZEN, the stdio
// proxy's configured principal) and is denied if there is none.
//
// This package is a leaf for configuration: internal/config embeds Config,
// so nothing here may import the configuration or the packages that do.
package identity

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/internal/safeurl"
)

// Config is the `identity:` part of toolgate's configuration.
type Config struct {
	// Issuers are the identity providers whose JWTs toolgate accepts; a
	// token is matched to one by its "iss" claim, exactly.
	Issuers []IssuerConfig `yaml:"issuers"`
	// APIKeys are development credentials, stored only as hashes.
	APIKeys []APIKeyConfig `yaml:"api_keys"`
}

// IssuerConfig is one trusted identity provider and how its claims map to a
// principal.
type IssuerConfig struct {
	// Issuer is the provider's issuer URL, exactly as in its tokens' "iss":
	// https, or http only to a loopback host.
	Issuer string `yaml:"issuer"`
	// Audience lists the accepted "aud" values (at least one); a token must
	// name one of them, so a token minted for another service is refused.
	Audience []string `yaml:"audience"`
	// JWKSURI is where the provider publishes its keys (https, or http only
	// to a loopback host). Default: the jwks_uri of its discovery document
	// (<issuer>/.well-known/openid-configuration), which is held to the same
	// rule.
	JWKSURI string `yaml:"jwks_uri"`
	// Algorithms are the accepted signature algorithms (default: RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA). Only
	// asymmetric algorithms can be configured: "none" and HMAC never verify.
	Algorithms []string `yaml:"algorithms"`
	// ClockSkew is tolerated on exp, nbf and iat (default 60s).
	ClockSkew time.Duration `yaml:"clock_skew"`
	// JWKSRefresh is how long fetched keys are used before they are fetched
	// again (default 1h). An unknown key id fetches at once (at most every
	// few seconds), so a key the provider rotated in is picked up at its
	// first use and a key it rotated out stops verifying at the next fetch.
	JWKSRefresh time.Duration `yaml:"jwks_refresh"`
	// JWKSMaxStale is how long past jwks_refresh the last keys fetched
	// still verify while they cannot be refreshed (the provider is slow or
	// down; default 1h, at most 24h): a refresh never holds up calls whose
	// key is known, and past this bound calls fail closed.
	JWKSMaxStale time.Duration `yaml:"jwks_max_stale"`

	// Kind is the principal's kind: "agent", "user" or "auto" (default):
	// auto makes a token a User only when it shows a person (a login
	// session, a person's authentication, Entra ID's idtyp "user" or
	// delegated scopes, Okta's uid: see showsHuman), and every other token
	// an Agent.
	Kind string `yaml:"kind"`
	// IDClaim names the claim that is the principal's id (default "sub").
	IDClaim string `yaml:"id_claim"`
	// IDPrefix is put before every id from this issuer, to keep the ids of
	// several providers apart (e.g. "okta:"). Required, and distinct, when
	// more than one issuer is configured.
	IDPrefix string `yaml:"id_prefix"`
	// GroupsClaim names the claim whose values become Group parents
	// (default "groups"); a dotted path reaches into objects
	// ("realm_access.roles"). Arrays and space-separated strings both work.
	GroupsClaim string `yaml:"groups_claim"`
	// OwnerClaim names the claim that holds the human the agent acts for
	// (principal.owner), e.g. "act_for". A token with an RFC 8693 "act"
	// claim needs none: its "sub" is the owner and act.sub the caller.
	OwnerClaim string `yaml:"owner_claim"`
	// Tags maps entity tag names to claim paths. Without it every claim but
	// the registered ones (iss, sub, aud, exp, nbf, iat, jti, act) becomes
	// a tag of the same name.
	Tags map[string]string `yaml:"tags"`
}

// APIKeyConfig is a development credential: the caller presents the key
// (Authorization: Bearer tgk_…); only its SHA-256 is stored.
type APIKeyConfig struct {
	// Hash is "sha256:" and the hex SHA-256 of the whole key.
	Hash   string         `yaml:"hash"`
	Kind   string         `yaml:"kind"` // agent (default) | user
	ID     string         `yaml:"id"`
	Groups []string       `yaml:"groups"`
	Owner  string         `yaml:"owner"`
	Claims map[string]any `yaml:"claims"`
}

// APIKeyPrefix starts every API key, so a key is never mistaken for a JWT.
const APIKeyPrefix = "tgk_"

// Defaults.
const (
	DefaultClockSkew    = 60 * time.Second
	DefaultJWKSRefresh  = time.Hour
	DefaultJWKSMaxStale = time.Hour
	MaxJWKSMaxStale     = 24 * time.Hour
)

// DefaultAlgorithms are the asymmetric JWS algorithms.
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// ApplyDefaults fills in every unset field.
func (c *Config) ApplyDefaults() {
	for i := range c.Issuers {
		is := &c.Issuers[i]
		if len(is.Algorithms) == 0 {
			is.Algorithms = slices.Clone(DefaultAlgorithms)
		}
		if is.ClockSkew == 0 {
			is.ClockSkew = DefaultClockSkew
		}
		if is.JWKSRefresh == 0 {
			is.JWKSRefresh = DefaultJWKSRefresh
		}
		if is.JWKSMaxStale == 0 {
			is.JWKSMaxStale = DefaultJWKSMaxStale
		}
		if is.Kind == "" {
			is.Kind = "auto"
		}
		if is.IDClaim == "" {
			is.IDClaim = "sub"
		}
		if is.GroupsClaim == "" {
			is.GroupsClaim = "groups"
		}
	}
	for i := range c.APIKeys {
		if c.APIKeys[i].Kind == "" {
			c.APIKeys[i].Kind = "agent"
		}
	}
}

var hashRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Validate reports every problem, each prefixed with its key path.
func (c *Config) Validate() []string {
	var errs []string
	bad := func(path, format string, args ...any) {
		errs = append(errs, path+": "+fmt.Sprintf(format, args...))
	}
	seen := map[string]int{}
	prefixes := map[string]int{}
	for i, is := range c.Issuers {
		at := fmt.Sprintf("issuers[%d]", i)
		if is.Issuer == "" {
			bad(at+".issuer", "is required")
		} else if j, dup := seen[is.Issuer]; dup {
			bad(at+".issuer", "%q is already issuers[%d]", is.Issuer, j)
		} else {
			seen[is.Issuer] = i
		}
		if is.Issuer != "" {
			if err := safeurl.Check(is.Issuer); err != nil {
				bad(at+".issuer", "%v (%s)", err, CodeInsecureURL)
			}
		}
		if is.JWKSURI != "" {
			if err := safeurl.Check(is.JWKSURI); err != nil {
				bad(at+".jwks_uri", "%v (%s)", err, CodeInsecureURL)
			}
		}
		// With several providers, one's "alice" is not another's: ids
		// (and owners, and delegation chains) would merge across them.
		if len(c.Issuers) > 1 {
			if is.IDPrefix == "" {
				bad(at+".id_prefix", "is required when more than one issuer is configured, so that the ids of different providers never merge, e.g. \"okta:\" (%s)", CodeIDPrefixRequired)
			} else if j, dup := prefixes[is.IDPrefix]; dup {
				bad(at+".id_prefix", "%q is already the prefix of issuers[%d] (%s)", is.IDPrefix, j, CodeIDPrefixRequired)
			} else {
				prefixes[is.IDPrefix] = i
			}
		}
		if len(is.Audience) == 0 {
			bad(at+".audience", "is required: without it a token minted for any other service would be accepted")
		}
		for _, a := range is.Algorithms {
			if !slices.Contains(DefaultAlgorithms, a) {
				bad(at+".algorithms", "%q is not an asymmetric JWS algorithm (allowed: %s)", a, strings.Join(DefaultAlgorithms, ", "))
			}
		}
		switch is.Kind {
		case "agent", "user", "auto":
		default:
			bad(at+".kind", "%q is not agent, user or auto", is.Kind)
		}
		if is.ClockSkew < 0 || is.ClockSkew > 10*time.Minute {
			bad(at+".clock_skew", "%s is not between 0 and 10m", is.ClockSkew)
		}
		if is.JWKSRefresh < time.Second {
			bad(at+".jwks_refresh", "%s is less than 1s", is.JWKSRefresh)
		}
		if is.JWKSMaxStale < 0 || is.JWKSMaxStale > MaxJWKSMaxStale {
			bad(at+".jwks_max_stale", "%s is not between 0 and %s", is.JWKSMaxStale, MaxJWKSMaxStale)
		}
	}
	hashes := map[string]int{}
	ids := map[string]int{}
	for i, k := range c.APIKeys {
		at := fmt.Sprintf("api_keys[%d]", i)
		if !hashRE.MatchString(k.Hash) {
			bad(at+".hash", "must be \"sha256:\" and 64 lowercase hex digits (the SHA-256 of the key)")
		} else if j, dup := hashes[k.Hash]; dup {
			bad(at+".hash", "is the hash of api_keys[%d] too", j)
		} else {
			hashes[k.Hash] = i
		}
		if k.ID == "" {
			bad(at+".id", "is required")
		} else if j, dup := ids[k.Kind+"/"+k.ID]; dup {
			bad(at+".id", "%q is already api_keys[%d]", k.ID, j)
		} else {
			ids[k.Kind+"/"+k.ID] = i
		}
		if k.Kind != "agent" && k.Kind != "user" {
			bad(at+".kind", "%q is not agent or user", k.Kind)
		}
	}
	return errs
}

// Stable codes of configuration errors (in the message of Validate).
const (
	CodeInsecureURL      = "identity.insecure_url"
	CodeIDPrefixRequired = "identity.id_prefix_required"
)

func (is *IssuerConfig) algorithms() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(is.Algorithms))
	for i, a := range is.Algorithms {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}
