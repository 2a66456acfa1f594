// Package audittest is an in-memory audit sink for tests: a test double
// standing in for the trail where a test needs to see what was recorded,
// in what order, or to make the write fail.
package audittest

import (
	"context"
	"sync"

	"github.com/toolgate/toolgate/internal/audit"
)

// Sink keeps every record. Read its fields once the calls under test have
// returned.
type Sink struct {
	mu        sync.Mutex
	Events    []string // "decision:<effect>", "outcome:<status>", and what Note adds, in order
	Decisions []*audit.Record
	Outcomes  []*audit.OutcomeRecord
	// Fail, if set, is what WriteDecision returns (nothing is recorded).
	Fail error
}

var _ audit.Sink = (*Sink)(nil)

// WriteDecision implements audit.Sink. Like a real store, it refuses a
// context that has ended, so a test sees a record written on the call's own
// (cancelled) context go missing.
func (s *Sink) WriteDecision(ctx context.Context, r *audit.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return s.Fail
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.Events = append(s.Events, "decision:"+string(r.Effect))
	s.Decisions = append(s.Decisions, r)
	return nil
}

// WriteOutcome implements audit.Sink; it refuses an ended context too.
func (s *Sink) WriteOutcome(ctx context.Context, o *audit.OutcomeRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	s.Events = append(s.Events, "outcome:"+string(o.Status))
	s.Outcomes = append(s.Outcomes, o)
	return nil
}

// Note adds an event of the test's own (say, "forward") to Events.
func (s *Sink) Note(event string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Events = append(s.Events, event)
}

// Close implements audit.Sink.
func (s *Sink) Close() error { return nil }
