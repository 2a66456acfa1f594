// Package audit writes the record of every judged call. The decision record
// must be durable before the call is forwarded; the outcome is appended after.
// Sinks are plug-ins behind the Sink interface, chosen by name in config.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/call"
)

// Record is the decision record of one call.
type Record struct {
	Type       string    `json:"type"` // "decision"
	DecisionID string    `json:"decision_id"`
	Time       time.Time `json:"time"`
	// ActorType is human | agent | sub-agent.
	ActorType string `json:"actor_type"`
	Principal struct {
		Kind   string   `json:"kind"`
		ID     string   `json:"id"`
		Groups []string `json:"groups,omitempty"`
	} `json:"principal"`
	// Caller is the authenticated caller that asked about the call, when
	// the front door states the principal (AuthZEN): the principal itself,
	// or another party that policy permits to ask for it.
	Caller     *Caller         `json:"caller,omitempty"`
	OnBehalfOf string          `json:"on_behalf_of,omitempty"`
	Chain      []string        `json:"chain,omitempty"`
	TaskID     string          `json:"task_id,omitempty"`
	Purpose    string          `json:"purpose,omitempty"`
	Server     string          `json:"server"`
	Tool       string          `json:"tool"`
	Arguments  json.RawMessage `json:"arguments,omitempty"`

	Effect        call.Effect       `json:"effect"`
	Stage         string            `json:"stage"`
	Layer         string            `json:"layer,omitempty"`
	Policies      []string          `json:"policies"`
	Reasons       []call.Reason     `json:"reasons,omitempty"`
	Diagnostics   []call.Diagnostic `json:"diagnostics,omitempty"`
	PolicyVersion string            `json:"policy_version,omitempty"`
	// Approval is set when a human settled an "ask".
	Approval     *Approval `json:"approval,omitempty"`
	CredentialID string    `json:"credential_id,omitempty"`
}

// Caller names an authenticated caller.
type Caller struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Approval is a human's answer to an "ask" (the approve stage fills it).
type Approval struct {
	Approver string    `json:"approver"`
	Time     time.Time `json:"time"`
	Comment  string    `json:"comment,omitempty"`
	// WaitedMS is how long the call waited for the answer.
	WaitedMS float64 `json:"waited_ms"`
	// ID is the approval's id; Answer is "approved" or "denied"; Channel
	// how the answer came (api, cli, link, elicitation); Similar marks a
	// call let through by "approve similar calls for this task".
	ID      string `json:"id,omitempty"`
	Answer  string `json:"answer,omitempty"`
	Channel string `json:"channel,omitempty"`
	Similar bool   `json:"similar,omitempty"`
}

// OutcomeRecord is appended after a forwarded call ends.
type OutcomeRecord struct {
	Type         string             `json:"type"` // "outcome"
	DecisionID   string             `json:"decision_id"`
	Time         time.Time          `json:"time"`
	Status       call.OutcomeStatus `json:"status"`
	ResultSHA256 string             `json:"result_sha256,omitempty"`
	DurationMS   float64            `json:"duration_ms"`
	Error        string             `json:"error,omitempty"`
}

// NewRecord builds the decision record of a judged call.
func NewRecord(c *call.Call, d *call.Decision, cred *call.Credential) *Record {
	r := &Record{
		Type:          "decision",
		DecisionID:    d.ID,
		Time:          c.Time.UTC(),
		ActorType:     c.ActorType(),
		OnBehalfOf:    c.Principal.Owner,
		Chain:         c.Chain,
		Server:        c.Server.Name,
		Tool:          c.Tool.Name,
		Effect:        d.Effect,
		Stage:         d.Stage,
		Layer:         d.Layer,
		Policies:      d.Policies,
		Reasons:       d.Reasons,
		Diagnostics:   d.Diagnostics,
		PolicyVersion: d.PolicyVersion,
	}
	r.Principal.Kind = string(c.Principal.Kind)
	r.Principal.ID = c.Principal.ID
	r.Principal.Groups = c.Principal.Groups
	if c.Caller != nil {
		r.Caller = &Caller{Kind: string(c.Caller.Kind), ID: c.Caller.ID}
	}
	if c.Task != nil {
		r.TaskID, r.Purpose = c.Task.ID, c.Task.Purpose
	}
	if json.Valid(c.Input) {
		r.Arguments = c.Input
	}
	if cred != nil {
		r.CredentialID = cred.ID
	}
	if a := d.Approval; a != nil {
		answer := "denied"
		if a.Approved {
			answer = "approved"
		}
		r.Approval = &Approval{
			Approver: a.Approver, Time: a.Time.UTC(), Comment: a.Comment,
			WaitedMS: float64(a.Waited.Microseconds()) / 1000,
			ID:       a.ID, Answer: answer, Channel: a.Channel, Similar: a.Similar,
		}
	}
	return r
}

// Sink stores audit records.
type Sink interface {
	// WriteDecision returns only once the record is durable. An error means
	// the call must not run.
	WriteDecision(ctx context.Context, r *Record) error
	// WriteOutcome appends the outcome of a forwarded call.
	WriteOutcome(ctx context.Context, o *OutcomeRecord) error
	Close() error
}

// Config selects and configures the sink.
type Config struct {
	// Sink is the registered sink name: "sqlite" (default: the
	// tamper-evident trail in the data directory's database) or "jsonl".
	Sink string `yaml:"sink"`
	// Path is, for sqlite, the database file (default toolgate.db in the
	// data directory); for jsonl, the file (default audit.jsonl in the data
	// directory) or "-" for stderr.
	Path string `yaml:"path"`
	// Durability is when a decision record counts as written: "flush" (the
	// default: on stable storage, fdatasync or the database's commit) or
	// "os" (handed to the operating system; flushed within FlushInterval).
	Durability string `yaml:"durability"`
	// Redact says which argument values are replaced by keyed hashes.
	Redact RedactConfig `yaml:"redact"`
	// Checkpoint says how often the sqlite trail is signed.
	Checkpoint CheckpointConfig `yaml:"checkpoint"`
	// Export ships the sqlite trail's records elsewhere (at least once, in
	// order, retried until delivered).
	Export ExportConfig `yaml:"export"`
}

// The values of Config.Durability.
const (
	DurabilityFlush = "flush"
	DurabilityOS    = "os"
)

// FlushInterval bounds how long a record written with durability "os" can
// stay unflushed (in the operating system's cache, not on stable storage).
const FlushInterval = 50 * time.Millisecond

// DurabilityMode is cfg's durability with the default filled in, or an
// error for a value that is neither "flush" nor "os": never a silent
// fallback to either.
func (cfg Config) DurabilityMode() (string, error) {
	switch cfg.Durability {
	case "", DurabilityFlush:
		return DurabilityFlush, nil
	case DurabilityOS:
		return DurabilityOS, nil
	}
	return "", fmt.Errorf("audit: durability %q is neither %q nor %q", cfg.Durability, DurabilityFlush, DurabilityOS)
}

// CheckpointConfig: a signed checkpoint is written after Records records or
// Interval, whichever comes first (and at a clean shutdown).
type CheckpointConfig struct {
	Records  int           `yaml:"records"`  // default 1000
	Interval time.Duration `yaml:"interval"` // default 5s
}

// Defaults of CheckpointConfig.
const (
	DefaultCheckpointRecords  = 1000
	DefaultCheckpointInterval = 5 * time.Second
)

// ExportConfig lists the exporters of the trail.
type ExportConfig struct {
	// OTLP ships records as OpenTelemetry log records and/or a span per
	// call over OTLP/HTTP.
	OTLP *OTLPConfig `yaml:"otlp"`
	// JSONL writes records, byte for byte, to size-rotated files.
	JSONL *JSONLExportConfig `yaml:"jsonl"`
}

// Factory builds a sink from its config; dataDir is the resolved data
// directory.
type Factory func(cfg Config, dataDir string) (Sink, error)

var (
	regMu     sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a sink available by name. It panics on a duplicate name,
// which is a programming error.
func Register(name string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := factories[name]; dup {
		panic("audit: sink registered twice: " + name)
	}
	factories[name] = f
}

// Names lists the registered sinks.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Open builds the configured sink.
func Open(cfg Config, dataDir string) (Sink, error) {
	name := cfg.Sink
	if name == "" {
		name = "sqlite"
	}
	regMu.RLock()
	f, ok := factories[name]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("audit: unknown sink %q (known: %v)", name, Names())
	}
	return f(cfg, dataDir)
}
