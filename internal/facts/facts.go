// Package facts turns tool-call arguments into facts that Cedar policies can
// read under context.facts: what an SQL string does, which commands a shell
// line runs, where a path points, which host a URL reaches.
//
// The classifiers live in sub-packages (sqlfacts, shellfacts, pathfacts,
// urlfacts) that register themselves here in init; import
// internal/facts/all to get every one of them.
package facts

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Classifier turns one string argument into facts for policies.
type Classifier interface {
	// Name is the key under context.facts ("sql", "shell", "path", "url").
	Name() string
	// Classify analyses one value. It never panics and returns within the
	// limits; on input it cannot analyse (too large, too slow, unparsable) it
	// returns facts with "parse_error": true and an "error" string, not a Go error.
	Classify(value string) Facts
}

// Facts is a JSON-like map: values are only string, bool, int64, []string,
// []any or map[string]any (no floats, no nil), so they convert to Cedar.
type Facts = map[string]any

// Merge combines the facts of several arguments bound to the same classifier
// (e.g. a copy tool's source and destination paths) into one Facts, the
// fail-safe way: a flag that signals danger is true if any value has it,
// a flag that signals safety ("inside") only if all have it; sets are unioned;
// counts are summed. Each classifier package provides its own merge.
func Merge(name string, fs []Facts) Facts {
	regMu.RLock()
	e, ok := registry[name]
	regMu.RUnlock()
	if !ok || e.merge == nil {
		// Without the classifier's own rules the polarity of each field is
		// unknown, so nothing can be combined safely.
		return ErrorFacts(fmt.Sprintf("facts: no merge registered for classifier %q", name))
	}
	return e.merge(fs)
}

// Default limits, used when Options leaves a field at its zero value.
const (
	DefaultMaxInputBytes = 64 << 10
	DefaultTimeout       = 50 * time.Millisecond
)

// Options configures a classifier. Each classifier reads only the fields that
// concern it and ignores the rest, so one Options can serve every binding.
type Options struct {
	// Dialect is the SQL dialect: "postgres" (default) or "mysql".
	Dialect string
	// Roots are the directories a path must stay inside for "inside" to be
	// true. Relative roots are made absolute against the process's working
	// directory when the classifier is built.
	Roots []string
	// HomeDir replaces "~" in paths; empty means the current user's home.
	HomeDir string
	// WorkDir is the directory relative paths are resolved against; empty
	// means the first root, or the process's working directory without roots.
	WorkDir string
	// MaxInputBytes caps the length of one value (default 64 KiB); longer
	// values are not analysed and report parse_error.
	MaxInputBytes int
	// Timeout bounds the analysis of one value (default 50 ms): Classify
	// returns parse_error when it passes. A third-party parser cannot be
	// interrupted, so it finishes in the background; at most
	// 2×GOMAXPROCS such stragglers run at once, and while that many do,
	// new values are refused with parse_error instead of queueing work.
	Timeout time.Duration
	// AllowedHosts, when set, makes the url classifier report "allowed":
	// whether the host equals one of these names or is a subdomain of one.
	AllowedHosts []string
}

// WithDefaults returns o with zero limits replaced by the defaults.
func (o Options) WithDefaults() Options {
	if o.MaxInputBytes <= 0 {
		o.MaxInputBytes = DefaultMaxInputBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Factory builds a classifier from options; it fails on options it cannot
// honour (an unknown SQL dialect, a root that is not a path) so that a bad
// config is caught at load time rather than on the first call.
type Factory func(opts Options) (Classifier, error)

// MergeFunc combines the facts of several values of one classifier.
type MergeFunc func(fs []Facts) Facts

type entry struct {
	factory Factory
	merge   MergeFunc
}

var (
	regMu    sync.RWMutex
	registry = map[string]entry{}
)

// Register makes a classifier available under name. It panics on a duplicate
// or empty name, since that can only be a programming error found at init.
func Register(name string, f Factory) {
	if name == "" || f == nil {
		panic("facts: Register with empty name or nil factory")
	}
	regMu.Lock()
	defer regMu.Unlock()
	e := registry[name]
	if e.factory != nil {
		panic("facts: classifier " + name + " registered twice")
	}
	e.factory = f
	registry[name] = e
}

// RegisterMerge sets the merge rules used by Merge for the classifier name.
func RegisterMerge(name string, m MergeFunc) {
	if name == "" || m == nil {
		panic("facts: RegisterMerge with empty name or nil func")
	}
	regMu.Lock()
	defer regMu.Unlock()
	e := registry[name]
	if e.merge != nil {
		panic("facts: merge for " + name + " registered twice")
	}
	e.merge = m
	registry[name] = e
}

// ErrUnknown is returned by New for a name no package registered.
var ErrUnknown = errors.New("facts: unknown classifier")

// New builds the classifier registered under name.
func New(name string, opts Options) (Classifier, error) {
	regMu.RLock()
	e, ok := registry[name]
	regMu.RUnlock()
	if !ok || e.factory == nil {
		return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	return e.factory(opts.WithDefaults())
}

// Names lists the registered classifiers, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n, e := range registry {
		if e.factory != nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// ErrorFacts is the minimal answer for a value that could not be analysed.
// Classifiers add their own fields (with fail-safe values) on top of it.
func ErrorFacts(msg string) Facts {
	return Facts{"parse_error": true, "error": msg}
}
