package history

import (
	"context"
	"errors"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// writeReq is one event for the store, or (flush) a marker that reports
// when everything queued before it is committed.
type writeReq struct {
	ev     store.HistoryEvent
	scopes []*scope
	done   chan error
	flush  bool
	// cond: ev is conditional (Unless); done gets errConflict if it was
	// kept out, and seq its Seq once stored.
	cond bool
	seq  *int64
}

// writer commits history events in batches on one goroutine: what queues
// up while a commit runs goes into the next transaction (group commit), so
// the store keeps up with many calls without one commit each. It also
// prunes the store and evicts idle scopes from memory.
type writer struct {
	s    *Stage
	q    chan writeReq
	stop chan struct{}
	done chan struct{}
}

const (
	writeQueue = 4096
	writeBatch = 512
	// writeLinger is how long events nobody waits for gather before they
	// are committed together.
	writeLinger = 5 * time.Millisecond
	// sweepEvery is how often idle scopes leave memory and old events the
	// store; idleAfter is how long a scope must be unused to leave.
	sweepEvery = time.Minute
	idleAfter  = 15 * time.Minute
	pruneEvery = 10 * time.Minute
)

var errClosed = errors.New("history: the stage is closed")

func newWriter(s *Stage) *writer {
	w := &writer{s: s, q: make(chan writeReq, writeQueue), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *writer) enqueue(ctx context.Context, r writeReq) error {
	for _, sc := range r.scopes {
		sc.writes.Add(1)
	}
	select {
	case w.q <- r:
		return nil
	case <-w.stop:
	case <-ctx.Done():
	}
	for _, sc := range r.scopes {
		sc.writes.Add(-1)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errClosed
}

// flush returns once everything queued before it is committed.
func (w *writer) flush(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case w.q <- writeReq{flush: true, done: done}:
	case <-w.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *writer) close() error {
	close(w.stop)
	<-w.done
	return nil
}

func (w *writer) run() {
	defer close(w.done)
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	lastPrune := time.Time{}
	batch := make([]writeReq, 0, writeBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-w.q:
			batch = append(batch, r)
		case <-sweep.C:
			w.s.sweep()
			if time.Since(lastPrune) >= pruneEvery {
				lastPrune = time.Now()
				w.prune()
			}
			continue
		case <-w.stop:
			// Write what is still queued, then stop.
			for {
				select {
				case r := <-w.q:
					batch = append(batch, r)
					if len(batch) == writeBatch {
						w.commit(batch)
						batch = batch[:0]
					}
				default:
					w.commit(batch)
					return
				}
			}
		}
	more:
		for len(batch) < writeBatch {
			select {
			case r := <-w.q:
				batch = append(batch, r)
			default:
				break more
			}
		}
		// Nobody waits for these events (a call whose history later calls
		// depend on waits, and so does a flush): linger a moment so that a
		// stream of calls shares one commit instead of paying one each.
		if !waited(batch) {
			linger := time.NewTimer(writeLinger)
		gather:
			for len(batch) < writeBatch {
				select {
				case r := <-w.q:
					batch = append(batch, r)
					if r.done != nil {
						break gather
					}
				case <-linger.C:
					break gather
				case <-w.stop:
					break gather
				}
			}
			linger.Stop()
		}
		w.commit(batch)
	}
}

// waited reports whether someone waits for the batch to be committed.
func waited(batch []writeReq) bool {
	for _, r := range batch {
		if r.done != nil {
			return true
		}
	}
	return false
}

func (w *writer) commit(batch []writeReq) {
	if len(batch) == 0 {
		return
	}
	evs := make([]store.HistoryEvent, 0, len(batch))
	at := make([]int, len(batch)) // batch index → evs index
	for i, r := range batch {
		at[i] = -1
		if !r.flush {
			at[i] = len(evs)
			evs = append(evs, r.ev)
		}
	}
	var err error
	if len(evs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = w.s.st.AppendHistory(ctx, evs)
		cancel()
		if err == nil {
			w.s.committed()
		} else {
			w.s.log.Error("history: cannot store events; the calls of their tasks are denied", "events", len(evs), "error", err)
		}
	}
	for i, r := range batch {
		for _, sc := range r.scopes {
			if err != nil {
				sc.fail(err)
			}
			sc.writes.Add(-1)
		}
		rerr := err
		if rerr == nil && at[i] >= 0 {
			if evs[at[i]].Conflict {
				rerr = errConflict
			} else if r.seq != nil {
				*r.seq = evs[at[i]].Seq
			}
		}
		if r.done != nil {
			r.done <- rerr
		}
	}
}

func (w *writer) prune() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := w.s.st.PruneHistory(ctx, time.Now().Add(-w.s.cfg.Retain-time.Hour)); err != nil {
		w.s.log.Warn("history: cannot prune old events", "error", err)
	}
}

// committed bumps the shared counter for a commit of this process, and
// notes whether another process committed since this one last looked.
func (s *Stage) committed() {
	if s.gen == nil {
		return
	}
	s.genMu.Lock()
	defer s.genMu.Unlock()
	n := s.gen.bump()
	if n != s.known+1 {
		s.foreign = n - 1
	}
	s.known = n
}

// sweep drops idle scopes from memory; the store still has them.
func (s *Stage) sweep() {
	old := time.Now().Add(-idleAfter).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sc := range s.scopes {
		if !sc.mu.TryLock() {
			continue
		}
		if sc.used < old && sc.writes.Load() == 0 && len(sc.pending) == 0 && sc.err() == nil {
			delete(s.scopes, k)
		}
		sc.mu.Unlock()
	}
}
