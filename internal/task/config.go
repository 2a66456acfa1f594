// Package task gives agents just-for-task access: a task names the agent,
// the human it acts for, a purpose, a scope, a time to live and a budget, and
// its task token (a JWT toolgate signs) makes every call evaluated with the
// task's scope as one more policy layer. Delegation (RFC 8693 token exchange)
// gives a sub-agent a child task whose scope only narrows; every hop of the
// chain is one more layer, so a call is allowed only by the intersection of
// all of them. Revoking a task revokes everything below it at once.
//
// The package implements the pipeline's task stage (enforce.TaskResolver)
// and budget (enforce.Budget), the admin API (POST /v1/tasks,
// POST /v1/token, …) and what `toolgate task` needs.
//
// This package is a leaf for configuration: internal/config embeds Config,
// so nothing here may import the configuration or the packages that do.
package task

import (
	"fmt"
	"time"
)

// Config is the `tasks:` part of toolgate's configuration.
type Config struct {
	// DefaultTTL is the life of a task created without a ttl (default 1h).
	DefaultTTL time.Duration `yaml:"default_ttl"`
	// MaxTTL is the longest life a task may be given (default 24h). The
	// keys' retention (keys.retain) must be at least this.
	MaxTTL time.Duration `yaml:"max_ttl"`
	// MaxDepth is the most delegation hops below a root task (default 4).
	MaxDepth int `yaml:"max_depth"`
	// Admins are groups whose members may create tasks for any agent and
	// owner, and revoke and list any task.
	Admins []string `yaml:"admins"`
}

// Defaults.
const (
	DefaultTTL      = time.Hour
	DefaultMaxTTL   = 24 * time.Hour
	DefaultMaxDepth = 4
	// hardMaxDepth bounds max_depth: each hop is one more policy layer on
	// every call and more bytes in every token.
	hardMaxDepth = 16
)

// ApplyDefaults fills in every unset field.
func (c *Config) ApplyDefaults() {
	if c.DefaultTTL == 0 {
		c.DefaultTTL = DefaultTTL
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = DefaultMaxDepth
	}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []string {
	var errs []string
	if c.DefaultTTL < time.Second {
		errs = append(errs, fmt.Sprintf("default_ttl: %s is less than 1s", c.DefaultTTL))
	}
	if c.MaxTTL < c.DefaultTTL {
		errs = append(errs, fmt.Sprintf("max_ttl: %s is less than default_ttl %s", c.MaxTTL, c.DefaultTTL))
	}
	if c.MaxDepth < 1 || c.MaxDepth > hardMaxDepth {
		errs = append(errs, fmt.Sprintf("max_depth: %d is not between 1 and %d", c.MaxDepth, hardMaxDepth))
	}
	for i, g := range c.Admins {
		if g == "" {
			errs = append(errs, fmt.Sprintf("admins[%d]: empty group name", i))
		}
	}
	return errs
}
