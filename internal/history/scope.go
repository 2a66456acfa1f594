package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/toolgate/toolgate/internal/call"
)

// The labels the history stage acts on.
const (
	LabelUntrusted = "untrusted"
	LabelPrivate   = "private"
	LabelExternal  = "external"
)

const (
	idxUntrusted = iota
	idxPrivate
	idxExternal
	nLabels
)

func labelIndex(l string) int {
	switch l {
	case LabelUntrusted:
		return idxUntrusted
	case LabelPrivate:
		return idxPrivate
	case LabelExternal:
		return idxExternal
	}
	return -1
}

// event is what is stored for a call: kind "hold" when it is judged and
// counts in a count or sum window (its place is held until it is forwarded
// or not), kind "call" when it is admitted (before it is forwarded), kind
// "release" when a held call is not forwarded after all, kind "output" when
// its untrusted output has been read. Its JSON is the store's Body.
type event struct {
	Kind   string   `json:"k"`
	Ref    string   `json:"r"` // the call's decision id
	Action string   `json:"a,omitempty"`
	Labels []string `json:"l,omitempty"`
	// Fields are the arguments the declared sums add up, as canonical
	// decimals, so that a changed unit still sums them right.
	Fields map[string]string `json:"f,omitempty"`
	// Out are the values of an output, by field and label; Values those of
	// an untrusted output as a whole (events written before outputs were
	// read by field); Trusted those of a user's own arguments. Hashes are
	// 8 bytes each, big-endian.
	Out []outGroup `json:"o,omitempty"`
	// Pending: a later call waits for this call's output (besides an
	// untrusted call's, which it always waits for).
	Pending bool   `json:"p,omitempty"`
	Values  []byte `json:"v,omitempty"`
	Trusted []byte `json:"t,omitempty"`
}

const (
	kindHold    = "hold"
	kindCall    = "call"
	kindRelease = "release"
	kindOutput  = "output"
	kindSeen    = "seen" // content read outside a tool call (ObserveOutput)
)

// held is a call judged and not yet forwarded (or known not to be): it
// counts in the count and sum windows it matches, so that the calls judged
// after it see it, until it is admitted (then it is in the series) or
// released. v holds its value for each window, -1 where it does not count.
type held struct {
	at int64
	v  []int64
}

// scope is the history of one task, or of one principal (all its calls).
// Everything in it is bounded: labels are three times, the provenance
// index holds at most MaxValues hashes, each window at most MaxEvents
// events, and all of it forgets what is older than Retain.
type scope struct {
	key         string // "task:<id>" or "principal:<name>"
	principal   string
	byPrincipal bool // loaded by principal (all its calls), not by key

	mu       sync.Mutex
	loaded   bool
	synced   uint64 // the foreign generation this scope has caught up with
	lastSeq  int64  // the last store event applied
	n        uint64 // call events applied (for previous)
	labelAt  [nLabels]int64
	values   map[uint64]valueInfo // provenance hash → where and when it was seen
	srcs     []call.Source        // the sources values were seen in (ids: index+1)
	srcIdx   map[call.Source]uint16
	overflow int64            // when the index was last full (everything tainted until Retain after)
	unknown  int64            // when an untrusted output was last lost
	pending  map[string]int64 // untrusted calls admitted, output not yet seen: ref → when
	changed  chan struct{}    // closed when an output arrives
	series   []series         // one per declared window
	held     map[string]held  // calls judged, not yet admitted or released: ref → place
	purpose  string           // the task purpose purposeSet was built from
	purposeV map[uint64]struct{}
	purposeW []uint64 // the purpose's words, in order
	used     int64    // last use (Unix ns), for eviction

	writes atomic.Int32 // events queued for the store, not yet committed
	// Events of this scope the store refused, waiting to be written again,
	// and the last error: while there are any, the scope denies its calls
	// (other processes do not know what this one applied).
	unwritten atomic.Int32
	lastErr   atomic.Pointer[error]
	// lostUntil: events of this scope could not be stored at all; the
	// scope denies its calls until they have aged out (Unix ns).
	lostUntil atomic.Int64
}

func newScope(key, principal string, byPrincipal bool, windows int) *scope {
	return &scope{
		key: key, principal: principal, byPrincipal: byPrincipal,
		values: map[uint64]valueInfo{}, srcIdx: map[call.Source]uint16{}, pending: map[string]int64{},
		changed: make(chan struct{}), series: make([]series, windows), held: map[string]held{},
	}
}

// refused notes that the store refused n events of the scope; they are
// written again with the next commit.
func (sc *scope) refused(n int32, err error) {
	sc.lastErr.Store(&err)
	sc.unwritten.Add(n)
}

// lost notes that an event of the scope (at, Unix ns) will never be
// stored: the scope denies its calls until it has aged out.
func (sc *scope) lost(until int64, err error) {
	err = fmt.Errorf("events of it could not be stored (%v); its calls are denied until those events have aged out of the retention", err)
	sc.lastErr.Store(&err)
	for {
		old := sc.lostUntil.Load()
		if until <= old || sc.lostUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// err tells why the scope's calls are denied at now (Unix ns), if they are.
func (sc *scope) err(now int64) error {
	if sc.unwritten.Load() == 0 && sc.lostUntil.Load() <= now {
		return nil
	}
	if p := sc.lastErr.Load(); p != nil {
		return *p
	}
	return errors.New("events could not be stored")
}

// apply adds an event to the scope; the caller holds sc.mu.
func (s *Stage) apply(sc *scope, ev *event, at int64) {
	switch ev.Kind {
	case kindHold:
		sc.held[ev.Ref] = held{at: at, v: s.holdValues(ev)}
	case kindRelease:
		delete(sc.held, ev.Ref)
	case kindCall:
		delete(sc.held, ev.Ref) // now in the series
		sc.n++
		for _, l := range ev.Labels {
			if i := labelIndex(l); i >= 0 && at > sc.labelAt[i] {
				sc.labelAt[i] = at
			}
		}
		if hasLabel(ev.Labels, LabelUntrusted) || ev.Pending {
			sc.pending[ev.Ref] = at
		}
		if len(ev.Trusted) > 0 {
			s.addValues(sc, ev.Trusted, at, call.Source{Tool: ev.Action, Field: "input", Label: sourceUser})
		}
		for i, w := range s.windows {
			if !w.matches(ev.Action, ev.Labels) {
				continue
			}
			v := int64(1)
			if w.op == opSum {
				raw, ok := ev.Fields[w.fieldName]
				if !ok {
					continue // declared after this call: it is not in the sum
				}
				u, err := w.units(raw)
				if err != nil {
					continue
				}
				v = u
			}
			sc.series[i].add(at, v, sc.n)
		}
	case kindSeen:
		for _, l := range ev.Labels {
			if i := labelIndex(l); i >= 0 && at > sc.labelAt[i] {
				sc.labelAt[i] = at
			}
		}
		s.addOutput(sc, ev, at)
	case kindOutput:
		if _, ok := sc.pending[ev.Ref]; ok {
			delete(sc.pending, ev.Ref)
			close(sc.changed)
			sc.changed = make(chan struct{})
		}
		s.addOutput(sc, ev, at)
	}
}

// addOutput indexes the values of an output event.
func (s *Stage) addOutput(sc *scope, ev *event, at int64) {
	if len(ev.Values) > 0 {
		s.addValues(sc, ev.Values, at, call.Source{Tool: ev.Action, Label: FieldUntrusted})
	}
	for _, g := range ev.Out {
		s.addValues(sc, g.V, at, call.Source{Tool: ev.Action, Field: g.F, Label: g.L})
	}
}

// holdValues is what a held call adds to each count and sum window (-1:
// nothing). formerly and previous do not see held calls: they state that a
// call happened, and a held call may never run.
func (s *Stage) holdValues(ev *event) []int64 {
	v := make([]int64, len(s.windows))
	for i, w := range s.windows {
		v[i] = -1
		if (w.op != opCount && w.op != opSum) || !w.matches(ev.Action, ev.Labels) {
			continue
		}
		if w.op == opCount {
			v[i] = 1
			continue
		}
		if raw, ok := ev.Fields[w.fieldName]; ok {
			if u, err := w.units(raw); err == nil {
				v[i] = u
			}
		}
	}
	return v
}

// heldIn returns how many held calls count in window i after cutoff and
// their sum, and how many count in it at all (for MaxEvents). Held calls
// older than the retention are forgotten: their process ended without
// saying what became of them, and they have aged out. The caller holds
// sc.mu.
func (sc *scope) heldIn(i int, cutoff, retainCutoff int64) (count, sum, all int64) {
	for ref, h := range sc.held {
		if h.at <= retainCutoff {
			delete(sc.held, ref)
			continue
		}
		if h.v[i] < 0 {
			continue
		}
		all++
		if h.at > cutoff {
			count++
			sum += h.v[i]
		}
	}
	return count, sum, all
}

// addValues adds packed hashes seen at a source to the index, within
// MaxValues. A full index first forgets what has aged out. If it is still
// full, an untrusted value is not kept and the scope records the overflow:
// every argument counts as tainted until it ages out; a trusted value is
// not kept either (fewer trusted values can only taint more).
func (s *Stage) addValues(sc *scope, packed []byte, at int64, src call.Source) {
	untrusted := src.Label == FieldUntrusted
	id := sc.sourceID(src)
	for len(packed) >= 8 {
		h := binary.BigEndian.Uint64(packed)
		packed = packed[8:]
		v, ok := sc.values[h]
		if !ok && len(sc.values) >= s.cfg.MaxValues {
			cutoff := at - int64(s.cfg.Retain)
			for k, v := range sc.values {
				if v.untrusted <= cutoff && v.trusted <= cutoff {
					delete(sc.values, k)
				}
			}
			if len(sc.values) >= s.cfg.MaxValues {
				if untrusted && at > sc.overflow {
					sc.overflow = at
				}
				continue
			}
		}
		if untrusted {
			v.untrusted = max(v.untrusted, at)
		} else {
			v.trusted = max(v.trusted, at)
		}
		v.addSource(id)
		sc.values[h] = v
	}
}

func hasLabel(ls []string, l string) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}
