// Package store holds the interfaces of toolgate's state, one small interface
// per concern (audit trail, tasks and budgets, approvals, history,
// documents). The embedded backend is store/sqlite; store/postgres implements
// the same interfaces so that replicas share one state, and store/storetest
// holds both to the same conformance suite.
//
// The interfaces speak in bytes and plain values: the formats (what a record
// contains, how it is chained and signed) belong to the packages that use
// them, so a backend only has to store and return what it was given, exactly.
package store

import (
	"context"
	"errors"
	"time"
)

// Backend is every interface of the store: what one database holds, the
// SQLite file of a data directory or the PostgreSQL database of replicas.
type Backend interface {
	AuditLog
	Tasks
	Budgets
	Approvals
	History
	Docs
	Close() error
}

// Exclusive is a store that several hosts share and that can let one of
// them at a time do a named piece of work (ship the trail to an exporter's
// destination, say), so replicas do not all do it at once.
type Exclusive interface {
	// Exclusively runs fn unless another process is running the work of
	// that name; it reports whether fn ran.
	Exclusively(ctx context.Context, name string, fn func(context.Context) error) (bool, error)
}

// ErrNotFound is returned when a named thing does not exist.
var ErrNotFound = errors.New("store: not found")

// AuditEntry is one record of the audit trail as stored. Body is kept byte
// for byte: the trail's hash chain covers these exact bytes. The other fields
// are copies of values inside Body, kept as columns so queries can filter.
type AuditEntry struct {
	// Seq numbers the records 1, 2, 3, … without gaps.
	Seq  uint64
	Body []byte

	Kind       string // "decision" | "outcome"
	DecisionID string
	Time       time.Time
	Principal  string
	OnBehalfOf string
	TaskID     string
	Server     string
	Tool       string
	Effect     string
	Status     string // outcome records: ok | tool_error | upstream_failure | timeout
}

// AuditCheckpoint is a signed statement about the trail up to Seq. Body and
// Signature are kept byte for byte.
type AuditCheckpoint struct {
	Seq       uint64
	Time      time.Time
	Body      []byte
	Signature []byte
}

// AuditHead is the end of the trail when a write transaction starts: the
// last record and the last checkpoint (zero values on an empty trail).
type AuditHead struct {
	Last           *AuditEntry
	LastCheckpoint *AuditCheckpoint
}

// AuditBatch is what one transaction appends: records numbered from
// head.Last.Seq+1 on, and an optional checkpoint.
type AuditBatch struct {
	Entries    []AuditEntry
	Checkpoint *AuditCheckpoint
}

// AuditFilter selects records. Zero fields do not filter. Filters on the
// decision fields (Principal … Effect) match decision records; with
// WithOutcomes the outcome records of matching decisions are returned too.
type AuditFilter struct {
	AfterSeq     uint64 // records with Seq > AfterSeq
	Limit        int    // at most this many (0: no limit)
	Last         int    // only the last N matching records (tail), in order
	DecisionID   string
	Principal    string
	OnBehalfOf   string
	TaskID       string
	Server       string
	Tool         string
	Effect       string
	Since, Until time.Time // Since <= Time < Until
	WithOutcomes bool
}

// AuditLog stores the audit trail.
type AuditLog interface {
	// AppendAudit runs build inside one write transaction with the trail's
	// current head, appends the batch build returns, and commits durably
	// (the data is on stable storage when it returns nil). Appends from
	// several processes or replicas are serialised, so build always sees
	// the true head. If build returns an error nothing is written.
	AppendAudit(ctx context.Context, build func(head AuditHead) (AuditBatch, error)) error
	// ScanAudit calls fn for each record matching f, in Seq order.
	ScanAudit(ctx context.Context, f AuditFilter, fn func(*AuditEntry) error) error
	// AuditCheckpoints calls fn for each checkpoint, in Seq order.
	AuditCheckpoints(ctx context.Context, fn func(*AuditCheckpoint) error) error
	// AuditCursor returns how far the named exporter has shipped the trail
	// (0 if it never did); SetAuditCursor records it.
	AuditCursor(ctx context.Context, name string) (uint64, error)
	SetAuditCursor(ctx context.Context, name string, seq uint64) error
}
