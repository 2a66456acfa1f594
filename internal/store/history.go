package store

import (
	"context"
	"time"
)

// HistoryEvent is one thing the history stage learned about a call, as
// stored. Body is kept byte for byte in the history package's format; the
// store never reads it. The other fields are what the stage selects by.
type HistoryEvent struct {
	// Seq numbers events in commit order (assigned by the store on append):
	// a reader that has seen every event up to Seq has missed none below it.
	Seq  int64
	Time time.Time
	// Key is the history the event belongs to: the task's, or the
	// principal's for a call without a task.
	Key string
	// Principal is the caller, so the principal's windows see the events of
	// all its tasks.
	Principal string
	// Origin names the process that wrote the event, so a process can skip
	// its own events when it catches up with the others'.
	Origin string
	Body   []byte
}

// HistoryFilter selects events: of one key or of one principal (exactly one
// of the two is set), with Seq > AfterSeq and Time >= Since.
type HistoryFilter struct {
	Key       string
	Principal string
	AfterSeq  int64
	Since     time.Time
}

// History stores the history stage's events (data-flow labels, provenance,
// window events) so that they survive restarts and are shared by the
// processes of one data directory.
type History interface {
	// AppendHistory stores the events in one durable transaction and sets
	// their Seq.
	AppendHistory(ctx context.Context, evs []HistoryEvent) error
	// ScanHistory calls fn for each event matching f, in Seq order.
	ScanHistory(ctx context.Context, f HistoryFilter, fn func(*HistoryEvent) error) error
	// PruneHistory deletes the events older than before and returns how many.
	PruneHistory(ctx context.Context, before time.Time) (int64, error)
}
