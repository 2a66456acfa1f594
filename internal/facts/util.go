package facts

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
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

// Budget bounds the work of one analysis by counted steps, never by time:
// the answer must be a function of the value alone, the same on an idle
// and on a loaded machine. Classifiers spend steps in their own loops (a
// tree node visited, a byte expanded); an analysis that runs out is a
// parse_error. Third-party parsers are bounded by the input size limit and
// by shape checks made before calling them.
type Budget struct {
	left int
}

// NewBudget returns a budget of n steps.
func NewBudget(n int) *Budget { return &Budget{left: n} }

// Spend takes n steps and reports whether the budget is now exhausted.
// Once it is, it stays so.
func (b *Budget) Spend(n int) bool {
	if b == nil {
		return false
	}
	b.left -= n
	return b.left < 0
}

// ErrSteps is the error text for analysis that ran out of steps.
const ErrSteps = "analysis exceeded its step limit"

// stepsPerByte and baseSteps size the budget of one value: every walk
// the classifiers make is linear in the value's size (a parse tree has
// fewer nodes than the text has bytes), with room for nested shell
// strings and quoted SQL each analysed again.
const (
	stepsPerByte = 64
	baseSteps    = 1 << 16
)

// Run applies the checks every classifier shares: the input size limit,
// a step budget proportional to the input's size, and recovery from
// panics, so that a bug in a parser can never crash the gate nor let a
// call through unjudged. zero returns the classifier's fail-safe facts,
// on which errors are reported. The analysis runs on the caller's
// goroutine and nothing in it reads the clock.
func Run(opts Options, value string, zero func() Facts, analyse func(b *Budget) Facts) (out Facts) {
	opts = opts.WithDefaults()
	if len(value) > opts.MaxInputBytes {
		return Fail(zero(), fmt.Sprintf("input of %d bytes exceeds the limit of %d bytes", len(value), opts.MaxInputBytes))
	}
	defer func() {
		if r := recover(); r != nil {
			out = Fail(zero(), fmt.Sprintf("internal error while analysing: %v", r))
		}
	}()
	return analyse(NewBudget(baseSteps + stepsPerByte*len(value)))
}

// maxError bounds the error text: parser messages quote the input, which
// may be 64 KiB, and the text travels into reasons and the audit trail.
const maxError = 300

// Fail marks f as not analysable with msg and returns it.
func Fail(f Facts, msg string) Facts {
	if len(msg) > maxError {
		cut := maxError
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
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
