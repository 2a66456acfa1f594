package console

import (
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/toolgate/toolgate/internal/safeurl"
)

// Config is the `console:` part of toolgate's configuration.
type Config struct {
	// Enabled serves the console at /console (default true).
	Enabled *bool `yaml:"enabled"`
	// OIDC signs people in with the authorization code flow and PKCE
	// against an identity provider. The provider must also be one of
	// identity.issuers, with client_id among its audiences: the ID token a
	// person signs in with is mapped to a principal (User, groups) by the
	// same rules as every other identity token.
	OIDC *OIDCConfig `yaml:"oidc"`
	// AdminKey allows signing in with the local admin key (the file
	// console-admin.key in the data directory): its holder is the local
	// operator, who may do everything, like `toolgate approval` and
	// `toolgate task` on the data directory. Default: on without oidc, off
	// with it.
	AdminKey *bool `yaml:"admin_key"`
	// SessionTTL bounds a session from sign-in (default 8h).
	SessionTTL time.Duration `yaml:"session_ttl"`
	// IdleTimeout ends a session unused that long (default 30m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// PublicURL is the console's origin as browsers reach it
	// (https://toolgate.example.com), when a proxy in front terminates
	// TLS. It decides the OIDC redirect URL and that cookies are Secure.
	// Default: serve's own address.
	PublicURL string `yaml:"public_url"`
}

// OIDCConfig is the console's OpenID Connect client.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL, exactly as in its tokens.
	Issuer string `yaml:"issuer"`
	// ClientID is the console's client at the provider.
	ClientID string `yaml:"client_id"`
	// ClientSecretFile holds the client secret of a confidential client
	// (leave empty for a public client: PKCE alone).
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes asked for (default: openid profile email).
	Scopes []string `yaml:"scopes"`
	// Name is shown on the sign-in button (default: the issuer's host).
	Name string `yaml:"name"`
}

// Defaults.
const (
	DefaultSessionTTL  = 8 * time.Hour
	DefaultIdleTimeout = 30 * time.Minute
	// MaxSessionTTL bounds session_ttl: a stolen cookie is good for a day
	// at most.
	MaxSessionTTL = 24 * time.Hour
)

// On tells whether the console is served.
func (c *Config) On() bool { return c.Enabled == nil || *c.Enabled }

// AdminKeyOn tells whether the local admin key signs in.
func (c *Config) AdminKeyOn() bool {
	if c.AdminKey != nil {
		return *c.AdminKey
	}
	return c.OIDC == nil
}

// ApplyDefaults fills in every unset field.
func (c *Config) ApplyDefaults() {
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.OIDC != nil && len(c.OIDC.Scopes) == 0 {
		c.OIDC.Scopes = []string{"openid", "profile", "email"}
	}
}

// Validate returns every problem, each naming its key under console.
func (c *Config) Validate() []string {
	var errs []string
	bad := func(path, format string, args ...any) {
		errs = append(errs, path+": "+fmt.Sprintf(format, args...))
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > MaxSessionTTL {
		bad("session_ttl", "%s is not between 1m and %s", c.SessionTTL, MaxSessionTTL)
	}
	if c.IdleTimeout < time.Minute || c.IdleTimeout > c.SessionTTL {
		bad("idle_timeout", "%s is not between 1m and session_ttl (%s)", c.IdleTimeout, c.SessionTTL)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad("public_url", "%q is not an http(s) URL", c.PublicURL)
		case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.User != nil:
			bad("public_url", "%q must be an origin only (scheme://host[:port])", c.PublicURL)
		case u.Scheme == "http" && !safeurl.IsLoopback(u.Hostname()):
			bad("public_url", "%q is plain http to a host that is not loopback: sessions need https", c.PublicURL)
		}
	}
	if o := c.OIDC; o != nil {
		if err := safeurl.Check(o.Issuer); err != nil {
			bad("oidc.issuer", "%v", err)
		}
		if o.ClientID == "" {
			bad("oidc.client_id", "is required")
		}
		if !slices.Contains(o.Scopes, "openid") {
			bad("oidc.scopes", "must contain openid")
		}
	}
	return errs
}
