// Package approval is the approve stage of the pipeline (docs/design.md, "The pipeline"):
// an "ask" becomes a pending approval bound to the exact call — principal,
// task, tool, the SHA-256 of the RFC 8785 canonical arguments, the policy
// version — and the call waits until a human approves it (it runs, once),
// denies it, or the wait times out (a deny). Humans answer through the
// admin API, the CLI, a signed link sent by an outgoing webhook, or MCP
// elicitation; who may answer what is Cedar policy (Action::"Approve" on the
// pending call). Pending approvals live in the store, so they survive a
// restart and are shared by every toolgate process of a data directory.
//
// This package is a leaf for configuration: internal/config embeds Config,
// so nothing here may import the configuration or the packages that do.
package approval

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Config is the `approvals:` part of toolgate's configuration.
type Config struct {
	// Timeout is how long a call waits for a human's answer (default 5m);
	// a pending approval can be decided until then. An answer given while
	// no call waits (see OnDisconnect) can be used for as long again.
	Timeout time.Duration `yaml:"timeout"`
	// OnDisconnect says what happens to a pending approval when the client
	// that waits for it goes away (its connection drops, it cancels the
	// request): "keep" (default) leaves it pending, and once approved the
	// same exact call made again runs once; "cancel" cancels it. A restart
	// of toolgate itself always keeps pending approvals.
	OnDisconnect string `yaml:"on_disconnect"`
	// FourEyes: the human an agent acts for may not approve its calls,
	// and links (whose clicker is unknown) may only deny.
	FourEyes bool `yaml:"four_eyes"`
	// SimilarTTL is how long an explicit "approve similar calls for this
	// task" lasts (default 1h); 0 after defaults is not possible, set
	// NoSimilar to refuse such answers.
	SimilarTTL time.Duration `yaml:"similar_ttl"`
	NoSimilar  bool          `yaml:"no_similar"`
	// PublicURL is the address of `toolgate serve` as approvers reach it
	// (https://toolgate.example.com); links in webhooks point there.
	// Default for serve: its listen address.
	PublicURL string `yaml:"public_url"`
	// LinkTTL bounds the life of a link (default: Timeout).
	LinkTTL time.Duration `yaml:"link_ttl"`
	// Webhooks are told of every new pending approval.
	Webhooks []WebhookConfig `yaml:"webhooks"`
	// Elicitation asks the MCP client's user through MCP elicitation, when
	// the client supports it. Off by default: the agent's own client may
	// not be a human.
	Elicitation bool `yaml:"elicitation"`
	// PollInterval is how often a waiting call looks for an answer given
	// by another toolgate process (default 500ms).
	PollInterval time.Duration `yaml:"poll_interval"`
	// ProgressInterval is how often a call that waits tells its MCP client
	// so (notifications/progress, when the client's request carries a
	// progress token; default 10s): clients that reset their request
	// timeout on progress keep waiting for the person.
	ProgressInterval time.Duration `yaml:"progress_interval"`
	// MaxPendingPerPrincipal bounds the approvals one caller may have
	// waiting at once (default 20): beyond it a call that needs approval
	// is denied (approval.too_many_pending), so one agent cannot flood the
	// people who answer.
	MaxPendingPerPrincipal int `yaml:"max_pending_per_principal"`
}

// WebhookConfig is one outgoing webhook.
type WebhookConfig struct {
	// Name names the webhook in logs and as the approver of its links:
	// Webhook::"<name>".
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Format is "json" (default: toolgate's payload) or "slack" (a Slack
	// incoming-webhook message).
	Format string `yaml:"format"`
	// IncludeArguments puts the call's arguments into the payload
	// (default: only their digest; the link's page shows them).
	IncludeArguments bool `yaml:"include_arguments"`
}

// On-disconnect modes.
const (
	Keep   = "keep"
	Cancel = "cancel"
)

// Webhook formats.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
)

// Defaults.
const (
	DefaultTimeout      = 5 * time.Minute
	DefaultSimilarTTL   = time.Hour
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultProgressInterval is well below the 60s that MCP clients
	// commonly give a request.
	DefaultProgressInterval = 10 * time.Second

	DefaultMaxPendingPerPrincipal = 20
)

// ApplyDefaults fills in every unset field.
func (c *Config) ApplyDefaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.OnDisconnect == "" {
		c.OnDisconnect = Keep
	}
	if c.SimilarTTL == 0 {
		c.SimilarTTL = DefaultSimilarTTL
	}
	if c.LinkTTL == 0 || c.LinkTTL > c.Timeout {
		c.LinkTTL = c.Timeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.MaxPendingPerPrincipal == 0 {
		c.MaxPendingPerPrincipal = DefaultMaxPendingPerPrincipal
	}
	for i := range c.Webhooks {
		if c.Webhooks[i].Format == "" {
			c.Webhooks[i].Format = FormatJSON
		}
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []string {
	var errs []string
	bad := func(key, format string, args ...any) { errs = append(errs, key+": "+fmt.Sprintf(format, args...)) }
	if c.Timeout < time.Second || c.Timeout > 24*time.Hour {
		bad("timeout", "%s is not between 1s and 24h", c.Timeout)
	}
	if c.OnDisconnect != Keep && c.OnDisconnect != Cancel {
		bad("on_disconnect", "%q is not keep or cancel", c.OnDisconnect)
	}
	if c.SimilarTTL < time.Second || c.SimilarTTL > 7*24*time.Hour {
		bad("similar_ttl", "%s is not between 1s and 168h", c.SimilarTTL)
	}
	if c.LinkTTL < time.Second {
		bad("link_ttl", "%s is less than 1s", c.LinkTTL)
	}
	if c.PollInterval < 10*time.Millisecond || c.PollInterval > time.Minute {
		bad("poll_interval", "%s is not between 10ms and 1m", c.PollInterval)
	}
	if c.ProgressInterval < 10*time.Millisecond || c.ProgressInterval > time.Minute {
		bad("progress_interval", "%s is not between 10ms and 1m", c.ProgressInterval)
	}
	if c.MaxPendingPerPrincipal < 1 || c.MaxPendingPerPrincipal > 100000 {
		bad("max_pending_per_principal", "%d is not between 1 and 100000", c.MaxPendingPerPrincipal)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_url", "%q is not an http(s) URL", c.PublicURL)
		}
	}
	seen := map[string]bool{}
	for i, w := range c.Webhooks {
		at := fmt.Sprintf("webhooks[%d]", i)
		if !nameRE.MatchString(w.Name) {
			bad(at+".name", "%q is not 1-64 letters, digits, '.', '_' or '-'", w.Name)
		} else if seen[w.Name] {
			bad(at+".name", "%q is used twice", w.Name)
		}
		seen[w.Name] = true
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(at+".url", "%q is not an http(s) URL", w.URL)
		}
		if w.Format != FormatJSON && w.Format != FormatSlack {
			bad(at+".format", "%q is not json or slack", w.Format)
		}
	}
	if c.FourEyes && c.Elicitation {
		bad("elicitation", "cannot be used with four_eyes: the user of the agent's client is the human it acts for")
	}
	return errs
}
