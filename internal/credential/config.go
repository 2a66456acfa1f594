// Package credential is the credential stage of the pipeline: for every
// allowed call it mints a per-call Transaction Token (txntoken+jwt, signed
// with toolgate's keys), resolves the upstream secrets toolgate holds for
// the server (files, environment, HashiCorp Vault KV v2) and, where
// configured, exchanges the caller's token at the user's IdP for an access
// token for the upstream (RFC 8693). The result is one call.Credential that
// the front door injects into the upstream request, and nothing else sees.
//
// Every failure — a key that cannot sign, a secret that cannot be read, an
// IdP that refuses — fails the mint, and the pipeline denies the call: a
// call is never forwarded without the credential its server's config asks
// for.
//
// This package is a leaf for configuration: internal/config embeds Config,
// so nothing here may import the configuration or the packages that do.
package credential

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Defaults and bounds of a token's lifetime.
const (
	DefaultTTL = 60 * time.Second
	MinTTL     = time.Second
	// MaxTTL keeps per-call tokens short-lived; longer would turn them into
	// the standing credentials they replace.
	MaxTTL = 10 * time.Minute
	// DefaultSecretCache is how long a secret read from Vault or a file is
	// used before it is read again.
	DefaultSecretCache = 5 * time.Minute
)

// Config is the `credentials:` part of toolgate's configuration.
type Config struct {
	// TTL is the default lifetime of a per-call token (default 60s, at
	// least 1s).
	TTL time.Duration `yaml:"ttl"`
	// Vault is the HashiCorp Vault that `vault:` secret references read
	// from.
	Vault VaultConfig `yaml:"vault"`
	// Servers configures, by server name, what an allowed call to the
	// server carries. A server not listed gets no credential.
	Servers map[string]ServerConfig `yaml:"servers"`
}

// ServerConfig is what an allowed call to one server carries.
type ServerConfig struct {
	// TxnToken mints a per-call token for the server's calls (default
	// true for a listed server).
	TxnToken *bool `yaml:"txn_token"`
	// Audience is the token's "aud", the name the server checks for itself
	// (default: the server's url, else "toolgate:server:<name>").
	Audience string `yaml:"audience"`
	// TTL overrides the default lifetime for this server.
	TTL time.Duration `yaml:"ttl"`
	// Secrets are injected into every request to the server: as HTTP
	// headers for a remote server, as environment variables of the process
	// for a stdio server.
	Secrets []SecretConfig `yaml:"secrets"`
	// Exchange obtains an access token for the server from the user's IdP
	// (RFC 8693), sent as Authorization: Bearer (HTTP) or in
	// params._meta["toolgate/access-token"] (stdio).
	Exchange *ExchangeConfig `yaml:"exchange"`
}

// MintsToken tells whether the server's calls carry a per-call token.
func (s ServerConfig) MintsToken() bool { return s.TxnToken == nil || *s.TxnToken }

// SecretConfig is one upstream secret and where it goes.
type SecretConfig struct {
	// Header is the HTTP header that carries it (remote servers).
	Header string `yaml:"header"`
	// Env is the environment variable that carries it (stdio servers).
	Env string `yaml:"env"`
	// Prefix is put before the value ("Bearer " for an API token sent as
	// Authorization).
	Prefix string `yaml:"prefix"`
	// From is where toolgate reads the secret.
	From SecretRef `yaml:"from"`
}

// SecretRef names where a secret is read: exactly one of File, Env, Vault.
type SecretRef struct {
	// File is a file holding the secret (surrounding white space is
	// trimmed). It is read again after the cache interval, so a rotated
	// file is picked up.
	File string `yaml:"file"`
	// Env is an environment variable of toolgate's that holds the secret.
	// It is removed from the environment of the stdio servers toolgate
	// starts, so a secret given to toolgate is not also given to every
	// server.
	Env string `yaml:"env"`
	// Vault is a field of a Vault KV v2 secret.
	Vault *VaultRef `yaml:"vault"`
}

// VaultRef is a field of a KV version 2 secret.
type VaultRef struct {
	// Mount is the KV v2 engine's mount path (default "secret").
	Mount string `yaml:"mount"`
	// Path is the secret's path inside the mount.
	Path string `yaml:"path"`
	// Field is the key inside the secret's data.
	Field string `yaml:"field"`
}

// VaultConfig is how toolgate reaches Vault.
type VaultConfig struct {
	// Address is Vault's URL (default: $VAULT_ADDR).
	Address string `yaml:"address"`
	// Token authenticates toolgate (default: the environment variable
	// VAULT_TOKEN).
	Token SecretRef `yaml:"token"`
	// Namespace is the Vault Enterprise namespace, if any.
	Namespace string `yaml:"namespace"`
	// Cache is how long a secret read from Vault is used before it is read
	// again (default 5m).
	Cache time.Duration `yaml:"cache"`
}

// ExchangeConfig is an RFC 8693 token exchange at the user's IdP.
type ExchangeConfig struct {
	// Issuer is the IdP's issuer URL; its token endpoint comes from
	// discovery unless TokenEndpoint is given.
	Issuer        string `yaml:"issuer"`
	TokenEndpoint string `yaml:"token_endpoint"`
	// ClientID and ClientSecret authenticate toolgate at the IdP
	// (client_secret_basic).
	ClientID     string    `yaml:"client_id"`
	ClientSecret SecretRef `yaml:"client_secret"`
	// Audience is the audience asked for (default: the server's token
	// audience).
	Audience string `yaml:"audience"`
	// Resource is an RFC 8707 resource indicator, if the IdP wants one.
	Resource string `yaml:"resource"`
	// Scopes maps a tool name to the scopes asked for when it is called;
	// "*" is for tools not named. A tool with neither is denied: an
	// exchange without a scope would not be narrowed to the call.
	Scopes map[string][]string `yaml:"scopes"`
	// SubjectTokenType is the RFC 8693 type of the subject token, the
	// caller's identity token: "access_token" (default), "jwt" or
	// "id_token".
	SubjectTokenType string `yaml:"subject_token_type"`
	// Actor is "toolgate" (default): an actor token naming the calling
	// agent, signed by toolgate (the IdP must trust toolgate's JWKS for
	// actor tokens); or "none": no actor token.
	Actor string `yaml:"actor"`
}

// Actor token modes.
const (
	ActorToolgate = "toolgate"
	ActorNone     = "none"
)

var subjectTokenTypes = map[string]string{
	"access_token": "urn:ietf:params:oauth:token-type:access_token",
	"jwt":          "urn:ietf:params:oauth:token-type:jwt",
	"id_token":     "urn:ietf:params:oauth:token-type:id_token",
}

// ApplyDefaults fills in every unset field.
func (c *Config) ApplyDefaults() {
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Vault.Cache == 0 {
		c.Vault.Cache = DefaultSecretCache
	}
	if c.Vault.Token.empty() {
		c.Vault.Token.Env = "VAULT_TOKEN"
	}
	for name, s := range c.Servers {
		for i := range s.Secrets {
			if v := s.Secrets[i].From.Vault; v != nil && v.Mount == "" {
				v.Mount = "secret"
			}
		}
		if e := s.Exchange; e != nil {
			if e.SubjectTokenType == "" {
				e.SubjectTokenType = "access_token"
			}
			if e.Actor == "" {
				e.Actor = ActorToolgate
			}
			if v := e.ClientSecret.Vault; v != nil && v.Mount == "" {
				v.Mount = "secret"
			}
		}
		c.Servers[name] = s
	}
}

func (r SecretRef) empty() bool { return r.File == "" && r.Env == "" && r.Vault == nil }

func (r SecretRef) validate(at string, bad func(string, string, ...any)) {
	n := 0
	for _, set := range []bool{r.File != "", r.Env != "", r.Vault != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		bad(at, "name exactly one of file, env, vault")
		return
	}
	if v := r.Vault; v != nil {
		if v.Path == "" {
			bad(at+".vault.path", "is required")
		}
		if v.Field == "" {
			bad(at+".vault.field", "is required")
		}
	}
}

// Validate reports every problem, each prefixed with its key (relative to
// `credentials`).
func (c *Config) Validate() []string {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, key+": "+fmt.Sprintf(format, args...))
	}
	checkTTL := func(key string, d time.Duration) {
		if d < MinTTL || d > MaxTTL {
			bad(key, "%s is not between %s and %s", d, MinTTL, MaxTTL)
		}
	}
	checkTTL("ttl", c.TTL)
	if c.Vault.Cache < 0 {
		bad("vault.cache", "must not be negative")
	}
	c.Vault.Token.validate("vault.token", bad)
	for _, name := range sortedNames(c.Servers) {
		s := c.Servers[name]
		at := "servers." + name
		if s.TTL != 0 {
			checkTTL(at+".ttl", s.TTL)
		}
		seen := map[string]bool{}
		for i, sec := range s.Secrets {
			sat := fmt.Sprintf("%s.secrets[%d]", at, i)
			switch {
			case (sec.Header == "") == (sec.Env == ""):
				bad(sat, "name exactly one of header (a remote server) and env (a stdio server)")
			case sec.Header != "":
				h := strings.ToLower(sec.Header)
				if !validHeader(sec.Header) {
					bad(sat+".header", "%q is not an HTTP header name", sec.Header)
				}
				if reservedHeaders[h] {
					bad(sat+".header", "%q is set by toolgate or the MCP transport", sec.Header)
				}
				if seen["h:"+h] {
					bad(sat+".header", "%q is given twice", sec.Header)
				}
				seen["h:"+h] = true
			default:
				if !validEnv(sec.Env) {
					bad(sat+".env", "%q is not an environment variable name", sec.Env)
				}
				if seen["e:"+sec.Env] {
					bad(sat+".env", "%q is given twice", sec.Env)
				}
				seen["e:"+sec.Env] = true
			}
			sec.From.validate(sat+".from", bad)
		}
		if e := s.Exchange; e != nil {
			eat := at + ".exchange"
			if e.Issuer == "" && e.TokenEndpoint == "" {
				bad(eat, "needs issuer (discovery) or token_endpoint")
			}
			if e.ClientID == "" {
				bad(eat+".client_id", "is required")
			}
			e.ClientSecret.validate(eat+".client_secret", bad)
			if len(e.Scopes) == 0 {
				bad(eat+".scopes", "is required: map each tool (or \"*\") to the scopes its calls need")
			}
			for tool, sc := range e.Scopes {
				if len(sc) == 0 || slices.Contains(sc, "") {
					bad(eat+".scopes."+tool, "must list non-empty scopes")
				}
			}
			if _, ok := subjectTokenTypes[e.SubjectTokenType]; !ok {
				bad(eat+".subject_token_type", "%q is not one of access_token, jwt, id_token", e.SubjectTokenType)
			}
			if e.Actor != ActorToolgate && e.Actor != ActorNone {
				bad(eat+".actor", "%q is not one of toolgate, none", e.Actor)
			}
			if seen["h:authorization"] {
				bad(eat, "a secret already takes the Authorization header, where the exchanged token goes")
			}
		}
		if !s.MintsToken() && len(s.Secrets) == 0 && s.Exchange == nil {
			bad(at, "has nothing to carry: txn_token is false and there are no secrets and no exchange")
		}
	}
	return errs
}

// Transport is how toolgate reaches a server, for ValidateServers.
type Transport struct {
	// Stdio: the server is a process toolgate starts; otherwise remote.
	Stdio bool
	// CredentialMode is a remote server's mcp.gateway.servers.<name>.credential
	// ("txn-token" or "bearer").
	CredentialMode string
}

// ValidateServers checks the servers' credential settings against how they
// are reached (known servers only: `toolgate run` may name a server the
// config does not list, and is checked when it starts). Keys are relative
// to `credentials`.
func (c *Config) ValidateServers(servers map[string]Transport) []string {
	var errs []string
	for _, name := range sortedNames(c.Servers) {
		t, known := servers[name]
		if !known {
			continue
		}
		errs = append(errs, c.Servers[name].checkTransport("servers."+name, t)...)
	}
	return errs
}

// checkTransport reports settings that cannot reach a server over t.
func (s ServerConfig) checkTransport(at string, t Transport) []string {
	var errs []string
	for i, sec := range s.Secrets {
		switch {
		case t.Stdio && sec.Header != "":
			errs = append(errs, fmt.Sprintf("%s.secrets[%d].header: the server is a stdio process; use env", at, i))
		case !t.Stdio && sec.Env != "":
			errs = append(errs, fmt.Sprintf("%s.secrets[%d].env: the server is remote; use header", at, i))
		case !t.Stdio && t.CredentialMode == "bearer" && strings.EqualFold(sec.Header, "Authorization") && s.MintsToken():
			errs = append(errs, fmt.Sprintf("%s.secrets[%d].header: the per-call token takes Authorization (mcp.gateway.servers.<name>.credential: bearer)", at, i))
		}
	}
	if !t.Stdio && t.CredentialMode == "bearer" && s.MintsToken() && s.Exchange != nil {
		errs = append(errs, at+".exchange: the per-call token takes Authorization (mcp.gateway.servers.<name>.credential: bearer); send it as Txn-Token to use token exchange")
	}
	return errs
}

// reservedHeaders are set by toolgate or the transport; a secret must not
// replace them.
var reservedHeaders = map[string]bool{
	"txn-token": true, "content-type": true, "content-length": true, "accept": true, "host": true,
	"mcp-session-id": true, "mcp-protocol-version": true, "last-event-id": true,
	"connection": true, "transfer-encoding": true,
}

func validHeader(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r > 126 || r <= 32 || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}

func validEnv(e string) bool {
	if e == "" || (e[0] >= '0' && e[0] <= '9') {
		return false
	}
	for _, r := range e {
		if !(r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LongestTTL is the longest lifetime of any per-call token (toolgate's keys
// must stay published at least that long after a rotation).
func (c *Config) LongestTTL() time.Duration {
	longest := c.TTL
	for _, s := range c.Servers {
		longest = max(longest, s.TTL)
	}
	return longest
}
