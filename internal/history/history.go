// Package history is the history stage of the enforcement pipeline (docs/design.md,
// "The pipeline"): what happened before in a task. Before each decision it
// tells the policies whether the task has seen untrusted content or read
// private data, which arguments carry values that appeared in untrusted
// output (context.flow), and the counts, sums and flags of the declared
// time windows (context.windows). After a call is admitted it records the
// call, and after its output has been read it indexes the values in it.
//
// A task's history is kept per task (by task id), or per principal for
// calls without a task. It lives in memory, bounded, and in the store, so
// that it survives restarts and is shared by every process of one data
// directory (each `toolgate run` wraps one server; an agent using several
// servers has several processes, one task). See docs/history.md.
//
// It fails closed: a history that cannot be read or written denies the
// calls of its task with a reason.
package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store"
)

// Error codes of the calls the history stage denies.
const (
	CodeUnavailable = "history.unavailable"
	CodeWindowValue = "history.window_value"
	CodeWindowFull  = "history.window_full"
	CodeInput       = "history.input"
)

// Error is a coded error (enforce.Coded): the pipeline denies the call with
// Code and Message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string     { return e.Message }
func (e *Error) ErrorCode() string { return e.Code }

func errf(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Options are the stage's parts.
type Options struct {
	// Store keeps the history across restarts and shares it between
	// processes; nil keeps it in memory only.
	Store store.History
	// Dir is the data directory, for the counter that tells processes of
	// it apart ("" with a store: every recall asks the store).
	Dir string
	Log *slog.Logger
}

// Stage implements enforce.History (and enforce.Admitter).
type Stage struct {
	cfg     Config
	windows []*windowSpec
	// needPrincipal: some window counts per principal, so a task's call
	// also reads its principal's history.
	needPrincipal bool
	st            store.History
	origin        string // this process, in the events it writes
	log           *slog.Logger
	gen           *generation

	// The shared counter: known is its value as this process last
	// accounted for it, foreign how often it changed by another process's
	// hand (or could not be trusted) since.
	genMu   sync.Mutex
	known   uint64
	foreign uint64

	mu     sync.Mutex
	scopes map[string]*scope

	// inflight holds the calls admitted and not yet observed; holds the
	// calls whose places Reserve holds, not yet admitted or released.
	inflight sync.Map
	holds    sync.Map

	w *writer

	xpool     sync.Pool
	closeOnce sync.Once

	// beforeHold, in tests, runs between judging a call's windows and
	// writing its held place.
	beforeHold func()
	// after is the timer a recall gives up waiting for outputs by; waiting,
	// in tests, runs each time a recall starts to wait for them.
	after   func(time.Duration) (<-chan time.Time, func())
	waiting func()
}

// New builds the stage. cfg must have been validated.
func New(cfg Config, o Options) (*Stage, error) {
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("history: %s", strings.Join(errs, "; "))
	}
	s := &Stage{cfg: cfg, st: o.Store, origin: uuid.NewString(), log: o.Log, scopes: map[string]*scope{}, after: afterTimer}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	names := make([]string, 0, len(cfg.Windows))
	for n := range cfg.Windows {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := compileWindow(n, cfg.Windows[n], cfg.Retain)
		if err != nil {
			return nil, fmt.Errorf("history: windows.%s: %w", n, err)
		}
		s.windows = append(s.windows, w)
		s.needPrincipal = s.needPrincipal || w.perPrincipal
	}
	s.xpool.New = func() any { return &extractor{} }
	if s.st != nil {
		// The shared counter needs a store that only this machine's
		// processes share, and says which counter file they use.
		if mark, ok := s.st.(store.HistoryCounterMark); ok && o.Dir != "" {
			g, err := openGeneration(context.Background(), o.Dir, mark)
			if err != nil {
				return nil, err
			}
			s.gen = g
			if s.known, _, err = g.load(context.Background()); err != nil {
				s.log.Error("history: the calls of this process are denied", "error", err)
			}
		}
		s.w = newWriter(s)
	}
	return s, nil
}

// Close writes what is queued and stops the stage's goroutine.
func (s *Stage) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.close() })
	return err
}

func (s *Stage) close() error {
	var err error
	if s.w != nil {
		err = s.w.close()
	}
	if s.gen != nil {
		if e := s.gen.close(); err == nil {
			err = e
		}
	}
	return err
}

// principalName is the principal as Cedar names it.
func principalName(c *call.Call) string {
	t := "Agent"
	if c.Principal.Kind == call.KindUser {
		t = "User"
	}
	return fmt.Sprintf("%s::%q", t, c.Principal.ID)
}

// keyOf is the history a call belongs to: its task tree's, or its
// principal's when it serves no task. Every hop of a delegation chain
// shares the root task's history: a sub-agent's results go back to the
// agent that delegated to it, and that agent's context went into the
// sub-agent's task, so what one of them read flows to the others (and a
// window cannot be escaped by delegating).
func keyOf(c *call.Call) (key string, byPrincipal bool) {
	if c.Task != nil && c.Task.Root != "" {
		return "task:" + c.Task.Root, false
	}
	if c.Task != nil && c.Task.ID != "" {
		return "task:" + c.Task.ID, false
	}
	return "principal:" + principalName(c), true
}

// labels returns the call's labels: those of its server and tool from the
// configuration, and, for a tool that has none of untrusted, private and
// external there, the labels its pinned MCP annotations imply (an open
// world tool reads untrusted content; one that is not read-only also sends
// data out). The derived labels are added to the tool's labels, so they
// also put the action in Action::"untrusted" and Action::"external". A tool
// whose output has fields labelled untrusted is untrusted here too (for
// the flow and windows, not as an action group).
func (s *Stage) labels(c *call.Call) []string {
	ls := s.toolLabels(c)
	if !hasLabel(ls, LabelUntrusted) && hasFieldLabel(c.Tool.Outputs, FieldUntrusted) {
		// Untrusted fields: the call reads untrusted content.
		ls = append(ls, LabelUntrusted)
	}
	return ls
}

// toolLabels are the labels of the call's server and tool, configured or
// derived from annotations (see labels).
func (s *Stage) toolLabels(c *call.Call) []string {
	has := false
	for _, l := range slices.Concat(c.Server.Labels, c.Tool.Labels) {
		if labelIndex(l) >= 0 {
			has = true
			break
		}
	}
	if !has && s.cfg.annotationLabels() {
		a := c.Tool.Annotations
		if a.OpenWorld != nil && *a.OpenWorld {
			derived := []string{LabelUntrusted}
			if !a.IsReadOnly() {
				derived = append(derived, LabelExternal)
			}
			c.Tool.Labels = append(slices.Clip(c.Tool.Labels), derived...)
		}
	}
	return slices.Concat(c.Server.Labels, c.Tool.Labels)
}

// Recall implements enforce.History: it fills c.Flow and c.Windows.
func (s *Stage) Recall(ctx context.Context, c *call.Call) error {
	return s.recall(ctx, c, false)
}

// Reserve implements enforce.Reserver: Recall, and, atomically with it, it
// holds the call's place in the count and sum windows it matches, so that
// every call of the same task or principal judged after it (in this
// process or another of the data directory) counts it. Calls sent side by
// side therefore cannot pass a limit together. The place is held until the
// call is admitted (Admit: it is counted for good) or released (Release: it
// was not forwarded). If Reserve fails, nothing is held.
func (s *Stage) Reserve(ctx context.Context, c *call.Call) error {
	return s.recall(ctx, c, true)
}

// maxConflicts bounds how often one call re-judges its windows because
// another process counted a call in the same history meanwhile; each
// conflict means another call was counted, so this takes a flood.
const maxConflicts = 100

func (s *Stage) recall(ctx context.Context, c *call.Call, hold bool) error {
	labels := s.labels(c)
	in, err := decodeInput(c.Input)
	if err != nil {
		return err
	}
	key, byPrincipal := keyOf(c)
	pname := principalName(c)
	now := c.Time.UnixNano()
	for attempt := 0; ; attempt++ {
		sc, err := s.scopeReady(ctx, key, pname, byPrincipal, now, attempt > 0)
		if err != nil {
			return err
		}
		ps := sc
		if s.needPrincipal && !byPrincipal {
			if ps, err = s.scopeReady(ctx, "principal:"+pname, pname, true, now, attempt > 0); err != nil {
				return err
			}
		}
		conservative, err := s.awaitOutputs(ctx, sc, now)
		if err != nil {
			return err
		}

		cutoff := now - int64(s.cfg.Retain)
		sc.mu.Lock()
		c.Flow.Untrusted = sc.labelAt[idxUntrusted] > cutoff && sc.labelAt[idxUntrusted] != 0
		c.Flow.Private = sc.labelAt[idxPrivate] > cutoff && sc.labelAt[idxPrivate] != 0
		conservative = conservative || (sc.overflow != 0 && sc.overflow > cutoff) || (sc.unknown != 0 && sc.unknown > cutoff)
		c.Flow.Tainted, c.Flow.TaintedLinks, c.Flow.Trusted, c.Flow.Sources = nil, nil, nil, nil
		if in != nil {
			s.flowOf(sc, c, in, cutoff, conservative)
		}
		sc.mu.Unlock()

		if len(s.windows) == 0 {
			return nil
		}
		req, err := s.windowsOf(c, in, labels, sc, ps, byPrincipal, now, hold)
		if err != nil || req == nil {
			return err
		}
		if s.beforeHold != nil {
			s.beforeHold()
		}
		switch err := s.commitHold(ctx, req); {
		case err == nil:
			return nil
		case errors.Is(err, errConflict) && attempt < maxConflicts:
			continue // another process counted a call meanwhile: judge again
		default:
			return errf(CodeUnavailable, "the call counts in a window of this %s, and its place there could not be recorded, so it is denied: %v", scopeWord(false, byPrincipal), err)
		}
	}
}

// windowsOf fills c.Windows from the scopes sc (the call's history) and ps
// (its principal's). With hold, and if the call counts in a count or sum
// window, it holds the call's place in the scopes' memory before it lets
// them go, and returns what commitHold must write; the scopes are locked
// throughout, so no other call of this process is judged in between.
func (s *Stage) windowsOf(c *call.Call, in map[string]any, labels []string, sc, ps *scope, byPrincipal bool, now int64, hold bool) (*holdReq, error) {
	if c.Windows == nil {
		c.Windows = make(map[string]any, len(s.windows))
	}
	scopes := []*scope{sc}
	if ps != sc {
		scopes = append(scopes, ps)
	}
	for _, x := range scopes {
		x.mu.Lock()
	}
	defer func() {
		for i := len(scopes) - 1; i >= 0; i-- {
			scopes[i].mu.Unlock()
		}
	}()
	action := c.Action()
	ev := &event{Kind: kindHold, Ref: c.ID, Action: action, Labels: labels}
	counts := false // the call counts in a count or sum window
	retainCutoff := now - int64(s.cfg.Retain)
	for i, w := range s.windows {
		from := sc
		if w.perPrincipal {
			from = ps
		}
		matches := w.matches(action, labels)
		var cur int64
		if matches && w.op == opSum {
			raw, err := fieldValue(in, w.field)
			if err == nil {
				cur, err = w.units(raw)
			}
			if err != nil {
				return nil, errf(CodeWindowValue, "the call counts in window %q, which sums %q, but its %s: %v", w.name, w.fieldName, w.fieldName, err)
			}
			if ev.Fields == nil {
				ev.Fields = map[string]string{}
			}
			ev.Fields[w.fieldName] = raw
		}
		counts = counts || (matches && (w.op == opCount || w.op == opSum))
		se := &from.series[i]
		se.prune(retainCutoff)
		count, sum := se.since(now - w.within)
		hc, hs, hall := from.heldIn(i, now-w.within, retainCutoff)
		full := matches && int64(len(se.t))+hall >= int64(s.cfg.MaxEvents)
		last := se.last == from.n && from.n > 0 && len(se.t) > 0 && se.t[len(se.t)-1] > now-w.within
		if full {
			return nil, errf(CodeWindowFull, "window %q already holds %d calls of this %s, its limit (history.max_events)", w.name, s.cfg.MaxEvents, scopeWord(w.perPrincipal, byPrincipal))
		}
		if w.op == opCount || w.op == opSum {
			// Calls judged and not yet forwarded count too: a limit
			// holds for calls sent side by side.
			count += hc
			sum += hs
		}
		if matches && w.includeCurrent {
			count++
			sum += cur
		}
		switch w.op {
		case opCount:
			c.Windows[w.name] = count
		case opSum:
			c.Windows[w.name] = sum
		case opFormerly:
			c.Windows[w.name] = count > 0
		case opPrevious:
			c.Windows[w.name] = last
		}
	}
	if !hold || !counts {
		return nil, nil
	}
	if _, dup := s.holds.LoadOrStore(c.ID, struct{}{}); dup {
		return nil, errf(CodeUnavailable, "the call %s is already being judged", c.ID)
	}
	req := &holdReq{c: c, scopes: scopes}
	for _, x := range scopes {
		s.apply(x, ev, now)
		f := store.HistoryFilter{AfterSeq: x.lastSeq}
		if x.byPrincipal {
			f.Principal = x.principal
		} else {
			f.Key = x.key
		}
		req.unless = append(req.unless, f)
	}
	req.ev = ev
	return req, nil
}

// holdReq is a held place on its way to the store.
type holdReq struct {
	c      *call.Call
	ev     *event
	scopes []*scope
	unless []store.HistoryFilter
}

// errConflict: another process stored an event in the history after the
// call was judged, so its place was not recorded.
var errConflict = errors.New("another process changed this history meanwhile")

// commitHold makes a held place durable, on the condition that no other
// process changed the call's history since it was judged (then the call
// is judged again: errConflict). On any failure the place is given up.
func (s *Stage) commitHold(ctx context.Context, r *holdReq) error {
	var err error
	var seq int64
	if s.w != nil {
		body, merr := json.Marshal(r.ev)
		if merr != nil {
			err = merr
		} else {
			done := make(chan error, 1)
			key, _ := keyOf(r.c)
			err = s.w.enqueue(ctx, writeReq{
				ev:   store.HistoryEvent{Time: r.c.Time, Key: key, Principal: principalName(r.c), Origin: s.origin, Body: body, Unless: r.unless},
				done: done, seq: &seq, cond: true,
			})
			if err == nil {
				select {
				case err = <-done:
				case <-ctx.Done():
					// The write may still happen: the place stays held
					// (counting it is the safe side) and is released by
					// the pipeline's Release, which follows a failed Reserve
					// too.
					return ctx.Err()
				}
			}
		}
	}
	for _, x := range r.scopes {
		x.mu.Lock()
		if err != nil {
			delete(x.held, r.ev.Ref)
		} else if seq > x.lastSeq {
			// No other process wrote to this history between what the
			// scope had seen and the place: the scope has seen up to it.
			x.lastSeq = seq
		}
		x.mu.Unlock()
	}
	if err != nil {
		s.holds.Delete(r.c.ID)
	}
	return err
}

func scopeWord(perPrincipal, byPrincipal bool) string {
	if perPrincipal || byPrincipal {
		return "principal"
	}
	return "task"
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// extract runs one use of a pooled extractor.
func (s *Stage) extract(run func(*extractor), emit func(h uint64, derived bool)) {
	x := s.xpool.Get().(*extractor)
	x.emit = emit
	run(x)
	x.emit = nil
	s.xpool.Put(x)
}

// awaitOutputs waits, up to PendingWait, for the outputs of the scope's
// untrusted calls still on their way: the agent may already have them (a
// front door answers the agent before the pipeline observes the result),
// and a value taken from them must not slip through untainted. It reports
// whether it gave up (then every argument counts as tainted). An untrusted
// call whose output has not been seen for OutputTimeout is taken as lost.
func (s *Stage) awaitOutputs(ctx context.Context, sc *scope, now int64) (bool, error) {
	var giveUp <-chan time.Time
	for {
		sc.mu.Lock()
		live := 0
		for ref, at := range sc.pending {
			if now-at > int64(s.cfg.OutputTimeout) {
				delete(sc.pending, ref)
				if at > sc.unknown {
					sc.unknown = at
				}
				continue
			}
			live++
		}
		changed := sc.changed
		sc.mu.Unlock()
		if live == 0 {
			return false, nil
		}
		if giveUp == nil {
			c, stop := s.after(s.cfg.PendingWait)
			defer stop()
			giveUp = c
		}
		var poll <-chan time.Time
		stopPoll := func() bool { return false }
		if s.st != nil {
			// Another process's output arrives through the store.
			t := time.NewTimer(10 * time.Millisecond)
			poll, stopPoll = t.C, t.Stop
		}
		if s.waiting != nil {
			s.waiting()
		}
		select {
		case <-changed:
		case <-poll:
		case <-giveUp:
			stopPoll()
			return true, nil
		case <-ctx.Done():
			stopPoll()
			return false, errf(CodeUnavailable, "gave up waiting for the output of an earlier call of this task: %v", ctx.Err())
		}
		stopPoll()
		if s.st != nil {
			sc.mu.Lock()
			err := s.catchUp(ctx, sc, true)
			sc.mu.Unlock()
			if err != nil {
				return false, err
			}
		}
	}
}

// afterTimer is the timer awaitOutputs gives up by.
func afterTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// scopeGet returns the scope of key, creating it (not loaded).
func (s *Stage) scopeGet(key, principal string, byPrincipal bool) *scope {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scopes[key]
	if sc == nil {
		sc = newScope(key, principal, byPrincipal, len(s.windows))
		sc.loaded = s.st == nil // in memory only, there is nothing to load
		s.scopes[key] = sc
	}
	return sc
}

// scopeReady returns the scope of key, loaded from the store and caught up
// with what other processes wrote (asking the store even if the shared
// counter says nothing changed, with force).
func (s *Stage) scopeReady(ctx context.Context, key, principal string, byPrincipal bool, now int64, force bool) (*scope, error) {
	sc := s.scopeGet(key, principal, byPrincipal)
	if sc.unwritten.Load() > 0 {
		// Events the store refused: try them again now, so that a store
		// that is back lets the calls through at once.
		_ = s.w.flush(ctx)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.used = time.Now().UnixNano()
	if err := sc.err(now); err != nil {
		return nil, errf(CodeUnavailable, "the history of this %s could not be recorded, so its calls are denied until it is: %v", scopeWord(false, byPrincipal), err)
	}
	if s.st == nil {
		sc.loaded = true
		return sc, nil
	}
	if !sc.loaded {
		if err := s.load(ctx, sc, now); err != nil {
			return nil, err
		}
		return sc, nil
	}
	if err := s.catchUp(ctx, sc, force); err != nil {
		return nil, err
	}
	return sc, nil
}

// foreignGen counts the changes of the shared counter that this process
// did not cause: a scope that has caught up with the current value has
// seen every other process's commit. A counter that cannot be relied on
// for a moment counts as a change; one that cannot be trusted at all (its
// file was replaced under running processes) is an error.
func (s *Stage) foreignGen(ctx context.Context) (uint64, error) {
	if s.gen == nil {
		return ^uint64(0), nil // no counter: always ask the store
	}
	g, changed, err := s.gen.load(ctx)
	if err != nil {
		return 0, errf(CodeUnavailable, "%v", err)
	}
	s.genMu.Lock()
	defer s.genMu.Unlock()
	if changed || g != s.known {
		s.foreign++
		s.known = g
	}
	return s.foreign, nil
}

// load reads a scope's history from the store; the caller holds sc.mu.
// What this process has queued is written first, so the scan sees it.
func (s *Stage) load(ctx context.Context, sc *scope, now int64) error {
	if err := s.w.flush(ctx); err != nil {
		return errf(CodeUnavailable, "the history of this task cannot be written: %v", err)
	}
	gen, err := s.foreignGen(ctx)
	if err != nil {
		return err
	}
	since := time.Unix(0, now-int64(s.cfg.Retain))
	if err := s.scan(ctx, sc, 0, since, false); err != nil {
		return err
	}
	sc.synced = gen
	sc.loaded = true
	return nil
}

// catchUp applies the events other processes wrote since the scope last
// looked, if the shared counter says there are any (always, when forced).
func (s *Stage) catchUp(ctx context.Context, sc *scope, force bool) error {
	gen, err := s.foreignGen(ctx)
	if err != nil {
		return err
	}
	if !force && gen != ^uint64(0) && sc.synced >= gen {
		return nil
	}
	if err := s.scan(ctx, sc, sc.lastSeq, time.Time{}, true); err != nil {
		return err
	}
	sc.synced = gen
	return nil
}

func (s *Stage) scan(ctx context.Context, sc *scope, after int64, since time.Time, skipOwn bool) error {
	f := store.HistoryFilter{AfterSeq: after, Since: since}
	if sc.byPrincipal {
		f.Principal = sc.principal
	} else {
		f.Key = sc.key
	}
	var ev event
	err := s.st.ScanHistory(ctx, f, func(e *store.HistoryEvent) error {
		sc.lastSeq = e.Seq
		if skipOwn && e.Origin == s.origin {
			return nil // applied when it was made
		}
		ev = event{}
		if err := json.Unmarshal(e.Body, &ev); err != nil {
			return fmt.Errorf("event %d: %w", e.Seq, err)
		}
		s.apply(sc, &ev, e.Time.UnixNano())
		return nil
	})
	if err != nil {
		return errf(CodeUnavailable, "the history of this task cannot be read, so the call is denied: %v", err)
	}
	return nil
}

// Admit records a call that is about to be forwarded (enforce.Admitter):
// windows count it from now on, even while it runs, and a later call of
// the task waits for its output if it reads untrusted content. A call with
// a flow label or in a window is durable before Admit returns, so other
// processes of the data directory know of it (and of an untrusted output on
// its way) before the agent can act on it.
func (s *Stage) Admit(ctx context.Context, c *call.Call) {
	if _, loaded := s.inflight.LoadOrStore(c.ID, struct{}{}); loaded {
		return
	}
	_, wasHeld := s.holds.LoadAndDelete(c.ID)
	if err := s.admit(ctx, c, wasHeld); err != nil {
		s.log.Error("history: could not record a call; later calls of its task fail closed", "decision_id", c.ID, "error", err)
	}
}

// admit records the call; wasHeld: Reserve held its place, which is
// durable already and counts it in every process.
func (s *Stage) admit(ctx context.Context, c *call.Call, wasHeld bool) error {
	labels := s.labels(c)
	ev := &event{Kind: kindCall, Ref: c.ID, Action: c.Action(), Labels: labels}
	in, _ := decodeInput(c.Input) // Recall decoded it already
	// A call that changes what later calls see (a flow label, a window) is
	// durable before it is forwarded, so that the other processes of the
	// data directory see it before anything can follow from it. A held
	// place already counts it in the count and sum windows; formerly and
	// previous see it a moment later.
	// A call whose output is indexed (trusted fields) makes later calls
	// wait for it too: a payee it lists must be known when the payment
	// that follows is judged.
	ev.Pending = s.indexes(c) && !hasLabel(labels, LabelUntrusted)
	wait := hasLabel(labels, LabelUntrusted) || hasLabel(labels, LabelPrivate) || ev.Pending
	for _, w := range s.windows {
		if !w.matches(ev.Action, labels) {
			continue
		}
		wait = wait || !wasHeld
		if w.op != opSum {
			continue
		}
		if raw, err := fieldValue(in, w.field); err == nil {
			if ev.Fields == nil {
				ev.Fields = map[string]string{}
			}
			ev.Fields[w.fieldName] = raw
		}
	}
	if c.Principal.Kind == call.KindUser && in != nil {
		// A person's own arguments are the user's input: values in them
		// are trusted for the rest of the history.
		ev.Trusted = s.hashArgs(in)
	}
	return s.record(ctx, c, ev, wait)
}

// Release implements enforce.Reserver: the call whose place Reserve held
// is not forwarded (denied, not approved, its credential or decision record
// failed), so it no longer counts. Releasing a call that holds nothing does
// nothing.
func (s *Stage) Release(ctx context.Context, c *call.Call) {
	if _, ok := s.holds.LoadAndDelete(c.ID); !ok {
		return
	}
	// Nobody waits for the release: until it is stored the call still
	// counts in other processes, the safe side.
	if err := s.record(context.WithoutCancel(ctx), c, &event{Kind: kindRelease, Ref: c.ID}, false); err != nil {
		s.log.Error("history: could not release a call's place in its windows", "decision_id", c.ID, "error", err)
	}
}

// Observe implements enforce.History: it indexes the values of the
// output of a call that reads untrusted content or has trusted fields.
func (s *Stage) Observe(ctx context.Context, c *call.Call, o *call.Outcome) error {
	if _, ok := s.inflight.LoadAndDelete(c.ID); !ok {
		// The pipeline did not admit it (no Admitter support): record the
		// call now.
		_, wasHeld := s.holds.LoadAndDelete(c.ID)
		if err := s.admit(ctx, c, wasHeld); err != nil {
			return err
		}
	}
	if !s.indexes(c) {
		return nil
	}
	ev := &event{Kind: kindOutput, Ref: c.ID, Action: c.Action()}
	if o != nil && len(o.Result) > 0 {
		ev.Out = s.indexOutput(o.Result, c.Tool.Outputs, hasLabel(s.toolLabels(c), LabelUntrusted))
	}
	return s.record(ctx, c, ev, false)
}

// indexes tells whether the values of the call's output are indexed: it
// reads untrusted content, or some fields of its output are trusted.
func (s *Stage) indexes(c *call.Call) bool {
	return hasLabel(s.labels(c), LabelUntrusted) || hasFieldLabel(c.Tool.Outputs, FieldTrusted)
}

// ObserveOutput records content a server sent the client that is not the
// result of a tool call the pipeline observes: a resource read
// (resources/read), a prompt (prompts/get), the result of a task-augmented
// call (tasks/result), or any other server→client content. c says whose
// history it belongs to (Principal, Task, Time) and where it came from:
// Server, and Tool when a tool stands for it (the tool a task ran, or a
// name the front door gives the resource or prompt), whose labels apply as
// for a tool call, annotations included. Content labelled untrusted makes
// the history's flow untrusted and its values count as untrusted
// provenance; private makes it private; other content changes nothing.
// content is the result as the server sent it (JSON, else read as text).
//
// Call it before the content reaches the client: it returns once the
// history is durable, so that no call that follows from the content, in
// this process or another, is judged without it. On an error the content
// must not reach the client.
func (s *Stage) ObserveOutput(ctx context.Context, c *call.Call, content []byte) error {
	labels := s.labels(c)
	untrusted, private := hasLabel(labels, LabelUntrusted), hasLabel(labels, LabelPrivate)
	if !untrusted && !private && !s.indexes(c) {
		return nil
	}
	if c.Time.IsZero() {
		c.Time = time.Now()
	}
	ev := &event{Kind: kindSeen, Ref: c.ID, Action: c.Action()}
	if ev.Ref == "" {
		ev.Ref = uuid.NewString()
	}
	for _, l := range []string{LabelUntrusted, LabelPrivate} {
		if hasLabel(labels, l) {
			ev.Labels = append(ev.Labels, l)
		}
	}
	if s.indexes(c) && len(content) > 0 {
		ev.Out = s.indexOutput(content, c.Tool.Outputs, hasLabel(s.toolLabels(c), LabelUntrusted))
	}
	if err := s.record(ctx, c, ev, true); err != nil {
		return errf(CodeUnavailable, "content from %s could not be recorded in the history, so it is withheld: %v", c.Server.Name, err)
	}
	return nil
}

// record applies an event to the call's loaded scopes and queues it for the
// store; with wait, it returns once the event is durable.
func (s *Stage) record(ctx context.Context, c *call.Call, ev *event, wait bool) error {
	key, byPrincipal := keyOf(c)
	pname := principalName(c)
	scopes := []*scope{s.scopeGet(key, pname, byPrincipal)}
	if !byPrincipal {
		scopes = append(scopes, s.scopeGet("principal:"+pname, pname, true))
	}
	at := c.Time.UnixNano()
	// Each scope is locked while the event is applied and queued, so a
	// scope loading at the same time either sees it in the store (queued
	// before its load flushed) or in memory (applied after it loaded).
	for _, sc := range scopes {
		sc.mu.Lock()
		if sc.loaded {
			s.apply(sc, ev, at)
		}
	}
	var done chan error
	var err error
	if s.w != nil {
		body, merr := json.Marshal(ev)
		if merr != nil {
			err = merr
		} else {
			if wait {
				done = make(chan error, 1)
			}
			err = s.w.enqueue(ctx, writeReq{
				ev:     store.HistoryEvent{Time: c.Time, Key: key, Principal: pname, Origin: s.origin, Body: body},
				scopes: scopes, done: done,
			})
		}
	}
	for i := len(scopes) - 1; i >= 0; i-- {
		scopes[i].mu.Unlock()
	}
	if err != nil {
		// Applied here, never queued: it is lost to the other processes.
		for _, sc := range scopes {
			sc.lost(at+int64(s.cfg.Retain), err)
		}
		return err
	}
	if done != nil {
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	return err
}

// hashArgs indexes every value in a call's arguments, and each short
// string as a whole.
func (s *Stage) hashArgs(in map[string]any) []byte {
	var packed []byte
	var walk func(x *extractor, v any)
	walk = func(x *extractor, v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				walk(x, e)
			}
		case []any:
			for _, e := range v {
				walk(x, e)
			}
		case string:
			x.text(v)
			x.word(v)
		case json.Number:
			x.jsonNumber(string(v))
		}
	}
	s.extract(func(x *extractor) { walk(x, in) }, func(h uint64, _ bool) { packed = binary.BigEndian.AppendUint64(packed, h) })
	return packed
}

// decodeInput reads the arguments (a JSON object; nil when there are none).
func decodeInput(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return nil, errf(CodeInput, "the arguments are not a JSON object: %v", err)
	}
	return in, nil
}

// fieldValue is the canonical decimal at path in the arguments: a JSON
// number, or a string holding one ("120.50").
func fieldValue(in map[string]any, path []string) (string, error) {
	var v any = in
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", errors.New("is missing")
		}
		if v, ok = m[p]; !ok {
			return "", errors.New("is missing")
		}
	}
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = strings.TrimSpace(v)
	default:
		return "", errors.New("is not a number")
	}
	if !isPlainNumber(s) {
		return "", fmt.Errorf("%q is not a number", s)
	}
	return string(canonJSONNumber(nil, s)), nil
}

// isPlainNumber: a JSON number.
func isPlainNumber(s string) bool {
	var n json.Number
	return s != "" && json.Unmarshal([]byte(s), &n) == nil && !strings.ContainsAny(s, `"`)
}
