package facts

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// SortedSet sorts ss and removes duplicates in place, and never returns nil
// so that an empty set stays a set (not a JSON null) on the way to Cedar.
func SortedSet(ss []string) []string {
	if len(ss) == 0 {
		return []string{}
	}
	slices.Sort(ss)
	return slices.Compact(ss)
}

// Budget is the time allowed to analyse one value. Classifiers poll it in
// their own loops; it costs a clock read only every few calls.
type Budget struct {
	deadline time.Time
	n        uint32
	over     bool
	// cancelled is set from outside when the caller stopped waiting.
	cancelled atomic.Bool
}

// NewBudget starts a budget of d from now.
func NewBudget(d time.Duration) *Budget {
	return &Budget{deadline: time.Now().Add(d)}
}

// Exceeded reports whether the deadline has passed. Once it has, it stays so.
func (b *Budget) Exceeded() bool {
	if b == nil {
		return false
	}
	if b.over || b.cancelled.Load() {
		b.over = true
		return true
	}
	b.n++
	if b.n&63 != 0 {
		return false
	}
	b.over = time.Now().After(b.deadline)
	return b.over
}

// Check reads the clock now, for use right after a call that could not be
// interrupted (a third-party parser).
func (b *Budget) Check() bool {
	if b == nil {
		return false
	}
	if !b.over {
		b.over = b.cancelled.Load() || time.Now().After(b.deadline)
	}
	return b.over
}

// ErrTimeout is the error text for analysis that ran out of time.
const ErrTimeout = "analysis exceeded the time limit"

// stragglers counts analyses that overran their time limit and still run:
// a third-party parser cannot be stopped, only abandoned. Past
// maxStragglers, new values are refused at once rather than piling up
// work, which keeps the CPU an attacker can burn bounded.
var stragglers atomic.Int64

func maxStragglers() int64 { return int64(2 * runtime.GOMAXPROCS(0)) }

// Run applies the checks every classifier shares: the input size limit,
// the time limit (the caller gets parse_error when it passes, even if a
// parser is still busy), and recovery from panics, so that a bug in a
// parser can never crash the gate nor let a call through unjudged. zero
// returns the classifier's fail-safe facts, on which errors are reported.
func Run(opts Options, value string, zero func() Facts, analyse func(b *Budget) Facts) Facts {
	opts = opts.WithDefaults()
	if len(value) > opts.MaxInputBytes {
		return Fail(zero(), fmt.Sprintf("input of %d bytes exceeds the limit of %d bytes", len(value), opts.MaxInputBytes))
	}
	if stragglers.Load() >= maxStragglers() {
		return Fail(zero(), "too many earlier analyses still running past their time limit")
	}
	b := NewBudget(opts.Timeout)
	if len(value) <= inlineMax {
		// Small values run on the caller's goroutine: handing them to
		// another costs as much as parsing them (a cross-core wake-up), and
		// their worst case is bounded by their size (TestWorstCaseBounded).
		// The deadline still applies: an answer that comes late is a
		// parse_error.
		out := safeAnalyse(zero, analyse, b)
		if pe, _ := out["parse_error"].(bool); !pe && time.Now().After(b.deadline) {
			return Fail(zero(), ErrTimeout)
		}
		return out
	}
	done := make(chan Facts, 1)
	go func() { done <- safeAnalyse(zero, analyse, b) }()
	timer := time.NewTimer(opts.Timeout)
	select {
	case out := <-done:
		timer.Stop()
		if pe, _ := out["parse_error"].(bool); !pe && time.Now().After(b.deadline) {
			return Fail(zero(), ErrTimeout)
		}
		return out
	case <-timer.C:
		b.cancelled.Store(true)
		stragglers.Add(1)
		go func() {
			<-done
			stragglers.Add(-1)
		}()
		return Fail(zero(), ErrTimeout)
	}
}

// inlineMax is the largest value analysed on the caller's goroutine; larger
// ones run on their own, so that the caller can leave at the deadline.
const inlineMax = 4 << 10

// safeAnalyse runs analyse, turning a panic into a parse_error.
func safeAnalyse(zero func() Facts, analyse func(b *Budget) Facts, b *Budget) (out Facts) {
	defer func() {
		if r := recover(); r != nil {
			out = Fail(zero(), fmt.Sprintf("internal error while analysing: %v", r))
		}
	}()
	return analyse(b)
}

// Fail marks f as not analysable with msg and returns it.
func Fail(f Facts, msg string) Facts {
	f["parse_error"] = true
	f["error"] = msg
	return f
}

// Rule says how Merge combines one field.
type Rule uint8

const (
	// First keeps the value of the first facts that have the field.
	First Rule = iota
	// Any is true if the field is true in any facts (danger flags).
	Any
	// All is true only if the field is true in every facts (safety flags);
	// a facts without the field counts as false.
	All
	// Union unions []string sets.
	Union
	// Sum adds int64 counts.
	Sum
	// Same keeps a string all facts agree on, or "" when they differ.
	Same
)

// Rules maps field names to how they merge; fields not listed use First.
type Rules map[string]Rule

// MergeWith combines fs by rules. zero provides the facts for an empty fs,
// which classifiers make fail-safe (nothing inside, nothing analysed).
// "error" strings of the inputs are joined.
func MergeWith(rules Rules, zero func() Facts, fs []Facts) Facts {
	if len(fs) == 0 {
		return zero()
	}
	if len(fs) == 1 {
		return fs[0]
	}
	out := Facts{}
	var errs []string
	for i, f := range fs {
		for k, v := range f {
			if k == "error" {
				if s, ok := v.(string); ok && s != "" && !slices.Contains(errs, s) {
					errs = append(errs, s)
				}
				continue
			}
			rule := rules[k]
			if k == "parse_error" {
				// Whatever the classifier's rules say, one value that
				// could not be analysed makes the whole call unanalysed.
				rule = Any
			}
			prev, seen := out[k]
			switch rule {
			case Any:
				b, _ := v.(bool)
				pb, _ := prev.(bool)
				out[k] = b || pb
			case All:
				b, _ := v.(bool)
				if !seen {
					// A field missing from an earlier facts counts as false.
					out[k] = b && i == 0
				} else {
					pb, _ := prev.(bool)
					out[k] = b && pb
				}
			case Union:
				s, _ := v.([]string)
				ps, _ := prev.([]string)
				out[k] = append(append([]string(nil), ps...), s...)
			case Sum:
				n, _ := v.(int64)
				pn, _ := prev.(int64)
				out[k] = n + pn
			case Same:
				s, _ := v.(string)
				if !seen {
					if i == 0 {
						out[k] = s
					} else {
						out[k] = ""
					}
				} else if ps, _ := prev.(string); ps != s {
					out[k] = ""
				}
			default:
				if !seen {
					out[k] = v
				}
			}
		}
		// A field this facts lacks but an earlier one had: an All flag
		// becomes false and a Same string loses its common value.
		for k, v := range out {
			if _, ok := f[k]; ok {
				continue
			}
			switch rules[k] {
			case All:
				out[k] = false
			case Same:
				if _, ok := v.(string); ok {
					out[k] = ""
				}
			}
		}
	}
	for k, r := range rules {
		if r == Union {
			if s, ok := out[k].([]string); ok {
				out[k] = SortedSet(s)
			}
		}
	}
	if len(errs) > 0 {
		out["error"] = strings.Join(errs, "; ")
	}
	return out
}
