package history

import (
	"slices"
	"sort"
)

// series holds the events one window has seen for one task or principal:
// their times (ascending) and values, with the running total before each
// event, so that a count or sum over any suffix of time costs one binary
// search. Events older than the retention are dropped from the front.
type series struct {
	t   []int64 // event time, Unix ns, ascending
	v   []int64 // value (1 for counts, units for sums)
	pre []int64 // sum of v before this event (since the series began)
	// total is the sum of every v ever added, so a suffix sums to
	// total - pre[i] even after the front was dropped.
	total int64
	// last is the scope event number of the latest matching event
	// (previous: did the last call of the scope match?).
	last uint64
}

// add records an event. Events usually arrive in time order; one from
// another process may be slightly older and is put in its place.
func (s *series) add(at, v int64, n uint64) {
	if n > s.last {
		s.last = n
	}
	i := len(s.t)
	for i > 0 && s.t[i-1] > at {
		i--
	}
	var run int64 // the total before event i
	switch {
	case i > 0:
		run = s.pre[i-1] + s.v[i-1]
	case len(s.t) > 0:
		run = s.pre[0]
	default:
		run = s.total
	}
	s.t = slices.Insert(s.t, i, at)
	s.v = slices.Insert(s.v, i, v)
	s.pre = slices.Insert(s.pre, i, 0)
	for j := i; j < len(s.t); j++ {
		s.pre[j] = run
		run += s.v[j]
	}
	// total and pre may wrap around on overflow: a suffix sum, their
	// difference, is still exact as long as it fits in an int64 (values
	// and events per window are bounded so that it does).
	s.total = run
}

// prune drops the events at or before cutoff.
func (s *series) prune(cutoff int64) {
	i := sort.Search(len(s.t), func(i int) bool { return s.t[i] > cutoff })
	if i == 0 {
		return
	}
	if i == len(s.t) {
		s.t, s.v, s.pre = s.t[:0], s.v[:0], s.pre[:0]
		return
	}
	// Copy down rather than reslice, so the memory of dropped events is
	// reused and a long-lived series does not grow without bound.
	n := copy(s.t, s.t[i:])
	copy(s.v, s.v[i:])
	copy(s.pre, s.pre[i:])
	s.t, s.v, s.pre = s.t[:n], s.v[:n], s.pre[:n]
}

// since returns the number and the sum of the events after cutoff.
func (s *series) since(cutoff int64) (count int64, sum int64) {
	i := sort.Search(len(s.t), func(i int) bool { return s.t[i] > cutoff })
	if i == len(s.t) {
		return 0, 0
	}
	return int64(len(s.t) - i), s.total - s.pre[i]
}
