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
	// Unless makes the append conditional: the event is not stored if the
	// store already holds an event of another Origin that matches one of
	// these filters (Seq > AfterSeq; Since is ignored). The check and the
	// append are atomic: no event of another origin can be stored between
	// them. AppendHistory then sets Conflict instead of Seq and stores the
	// rest of the batch. This is how a process counts a call in a window
	// only if no other process counted one it has not seen (a limit is
	// never passed by processes judging side by side).
	Unless []HistoryFilter
	// Conflict is set by AppendHistory when Unless kept the event out.
	Conflict bool
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
	// their Seq; a conditional event (Unless) whose condition fails is left
	// out and marked Conflict, the others are stored.
	AppendHistory(ctx context.Context, evs []HistoryEvent) error
	// ScanHistory calls fn for each event matching f, in Seq order.
	ScanHistory(ctx context.Context, f HistoryFilter, fn func(*HistoryEvent) error) error
	// PruneHistory deletes the events older than before and returns how many.
	PruneHistory(ctx context.Context, before time.Time) (int64, error)
}

// HistoryCounterMark is implemented by a History store that only the
// processes of one machine share (SQLite). Those processes learn of each
// other's history writes through a counter in a file of the data directory
// (history.gen) instead of asking the store on every call; the mark records
// which file that is, so that a process started after the file was replaced
// can tell, and does not count on a file the running processes do not use.
// A store shared by several machines does not implement it: each of them
// then asks the store.
type HistoryCounterMark interface {
	// HistoryCounterMark returns the mark ("" if none was set).
	HistoryCounterMark(ctx context.Context) (string, error)
	SetHistoryCounterMark(ctx context.Context, mark string) error
}
