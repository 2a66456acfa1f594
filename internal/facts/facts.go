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
)

// Classifier turns one string argument into facts for policies.
type Classifier interface {
	// Name is the key under context.facts ("sql", "shell", "path", "url").
	Name() string
	// Classify analyses one value. It never panics, and its answer depends
	// on the value (and, for paths, the file system) only, never on time or
	// load; on input it cannot analyse (too large, too complex, unparsable)
	// it returns its fail-safe facts with "parse_error": true and an
	// "error" string, not a Go error.
	Classify(value string) Facts
}

// Facts is a JSON-like map: values are only string, bool, int64, []string,
// []any or map[string]any (no floats, no nil), so they convert to Cedar.
type Facts = map[string]any

// DefaultMaxInputBytes is the size limit used when Options leaves it zero.
const DefaultMaxInputBytes = 64 << 10

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
	// AllowedHosts, when set, makes the url classifier report "allowed":
	// whether the host equals one of these names or is a subdomain of one.
	AllowedHosts []string
}

// WithDefaults returns o with zero limits replaced by the defaults.
func (o Options) WithDefaults() Options {
	if o.MaxInputBytes <= 0 {
		o.MaxInputBytes = DefaultMaxInputBytes
	}
	return o
}

// Factory builds a classifier from options; it fails on options it cannot
// honour (an unknown SQL dialect, a root that is not a path) so that a bad
// config is caught at load time rather than on the first call.
type Factory func(opts Options) (Classifier, error)

// Kind is what a classifier package registers under its name.
type Kind struct {
	// New builds the classifier from options.
	New Factory
	// Merge combines the facts of several values bound to the classifier
	// in one call (a copy tool's source and destination), the fail-safe
	// way: a flag that signals danger is true if any value has it, a flag
	// that signals safety ("inside") only if all have it; sets are
	// unioned; counts are summed.
	Merge func(fs []Facts) Facts
	// Unanalysed returns the facts for a value that was not analysed:
	// every field present, danger flags set, safety flags cleared.
	Unanalysed func() Facts
}

var (
	regMu    sync.RWMutex
	registry = map[string]Kind{}
)

// Register makes a classifier available under name. It panics on a
// duplicate or empty name or an incomplete Kind, since that can only be a
// programming error found at init.
func Register(name string, k Kind) {
	if name == "" || k.New == nil || k.Merge == nil || k.Unanalysed == nil {
		panic("facts: Register with empty name or incomplete Kind")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("facts: classifier " + name + " registered twice")
	}
	registry[name] = k
}

func kind(name string) (Kind, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	k, ok := registry[name]
	return k, ok
}

// ErrUnknown is returned by New for a name no package registered.
var ErrUnknown = errors.New("facts: unknown classifier")

// New builds the classifier registered under name.
func New(name string, opts Options) (Classifier, error) {
	k, ok := kind(name)
	if !ok {
		return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	return k.New(opts.WithDefaults())
}

// Merge combines the facts of several values bound to the classifier name
// by its Kind's rules.
func Merge(name string, fs []Facts) Facts {
	k, ok := kind(name)
	if !ok {
		// Without the classifier's own rules the polarity of each field is
		// unknown, so nothing can be combined safely.
		return Fail(Facts{}, fmt.Sprintf("facts: no classifier %q to merge for", name))
	}
	return k.Merge(fs)
}

// Unanalysed returns the classifier's fail-safe facts for a value it could
// not analyse (a bound argument that is not text, …), with parse_error
// set and msg as the error: every field the classifier documents is
// present, so a policy reading any of them sees the fail-safe value.
func Unanalysed(name, msg string) Facts {
	k, ok := kind(name)
	if !ok {
		return Fail(Facts{}, msg)
	}
	return Fail(k.Unanalysed(), msg)
}

// Names lists the registered classifiers, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
