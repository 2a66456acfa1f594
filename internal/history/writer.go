package history

import (
	"context"
	"errors"
	"slices"
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
	// kept out, and seq its Seq once stored. A conditional event the store
	// refused is not written again: its call is denied instead.
	cond bool
	seq  *int64
	// retried: the store refused ev once; it is in writer.retry.
	retried bool
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
	// retry holds the events the store refused, oldest first: each commit
	// writes them again before the new ones, until the store takes them.
	// At most maxRetry; beyond, the oldest are given up.
	retry    []writeReq
	maxRetry int
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
	w := &writer{s: s, q: make(chan writeReq, writeQueue), stop: make(chan struct{}), done: make(chan struct{}), maxRetry: writeQueue}
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
			w.commit(nil) // events the store refused, if any
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
	if len(batch) == 0 && len(w.retry) == 0 {
		return
	}
	reqs := batch
	if len(w.retry) > 0 {
		reqs = append(w.retry, batch...)
		w.retry = nil
	}
	evs := make([]store.HistoryEvent, 0, len(reqs))
	at := make([]int, len(reqs)) // reqs index → evs index
	for i, r := range reqs {
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
			w.s.log.Error("history: cannot store events; the calls of their tasks are denied until they are stored", "events", len(evs), "error", err)
		}
	}
	for i := range reqs {
		r := &reqs[i]
		if r.retried {
			if err == nil {
				for _, sc := range r.scopes {
					sc.unwritten.Add(-1)
				}
			} else {
				w.retry = append(w.retry, *r)
			}
			continue
		}
		for _, sc := range r.scopes {
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
		if err != nil && !r.flush && !r.cond {
			for _, sc := range r.scopes {
				sc.refused(1, err)
			}
			w.retry = append(w.retry, writeReq{ev: r.ev, scopes: r.scopes, retried: true})
		}
	}
	if n := len(w.retry) - w.maxRetry; n > 0 {
		// Give up the oldest: their scopes deny until they have aged out.
		for _, r := range w.retry[:n] {
			for _, sc := range r.scopes {
				sc.lost(r.ev.Time.UnixNano()+int64(w.s.cfg.Retain), err)
				sc.unwritten.Add(-1)
			}
		}
		w.retry = slices.Delete(w.retry, 0, n)
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
	n, changed := s.gen.bump()
	if changed || n != s.known+1 {
		s.foreign++
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
		if sc.used < old && sc.writes.Load() == 0 && len(sc.pending) == 0 && sc.err(time.Now().UnixNano()) == nil {
			delete(s.scopes, k)
		}
		sc.mu.Unlock()
	}
}
