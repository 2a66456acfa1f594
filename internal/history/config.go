package history

import (
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Config is the `history:` section of the configuration file.
type Config struct {
	// Retain is how long the history of a task (or principal) is kept:
	// labels, provenance and window events older than this are forgotten,
	// and no window may be longer (default and cap 24h).
	Retain time.Duration `yaml:"retain"`
	// MaxValues bounds the provenance index of one task (default 50,000
	// values, 8 bytes each). Past it, every argument counts as tainted
	// until old values age out: fail closed, never forget silently.
	MaxValues int `yaml:"max_values"`
	// MaxEvents bounds the events one window keeps for one task or
	// principal (default 100,000); a call that would need more is denied.
	MaxEvents int `yaml:"max_events"`
	// PendingWait is how long a call waits for the output of an earlier
	// untrusted call of its task that is still on its way (default 2s);
	// after that every argument of the call counts as tainted.
	PendingWait time.Duration `yaml:"pending_wait"`
	// OutputTimeout is how long an untrusted call may go without its
	// output being seen (a process that crashed mid-call) before its
	// output counts as unknown: from then on, for Retain, every argument
	// of the task counts as tainted (default 10m).
	OutputTimeout time.Duration `yaml:"output_timeout"`
	// AnnotationLabels derives the labels of tools that have none in the
	// configuration from their pinned MCP annotations (default true).
	AnnotationLabels *bool `yaml:"annotation_labels"`
	// Windows are the counts, sums and flags exposed as
	// context.windows.<name>.
	Windows map[string]Window `yaml:"windows"`
}

// Window declares one context.windows.<name>.
type Window struct {
	// Op is count, sum, formerly or previous.
	Op string `yaml:"op"`
	// Actions select the calls the window looks at: "<server>/<tool>",
	// "<server>/*" or "*". Labels select calls whose tool or server has
	// one of them. With both, a call must match both; with neither, every
	// call matches.
	Actions []string `yaml:"actions"`
	Labels  []string `yaml:"labels"`
	// Within is the window's length (at most Retain).
	Within time.Duration `yaml:"within"`
	// Per is "task" (default: the calls of the call's task tree, its root
	// and every delegation hop, or of its principal when it has none) or
	// "principal" (all calls of the principal, across its tasks).
	Per string `yaml:"per"`
	// Field is the argument a sum adds up, a dotted path into the
	// arguments ("amount", "payment.amount").
	Field string `yaml:"field"`
	// Unit is what one unit of the sum is worth ("1" by default, "0.01"
	// for cents). The sum is a Long counting units, so Cedar can compare
	// it; a value that is not a whole number of units is denied.
	Unit string `yaml:"unit"`
	// IncludeCurrent counts the call being decided too, when it matches.
	IncludeCurrent bool `yaml:"include_current"`
}

// Defaults.
const (
	DefaultRetain        = 24 * time.Hour
	DefaultMaxValues     = 50_000
	DefaultMaxEvents     = 100_000
	DefaultPendingWait   = 2 * time.Second
	DefaultOutputTimeout = 10 * time.Minute
)

// ApplyDefaults fills in unset fields.
func (c *Config) ApplyDefaults() {
	if c.Retain == 0 {
		c.Retain = DefaultRetain
	}
	if c.MaxValues == 0 {
		c.MaxValues = DefaultMaxValues
	}
	if c.MaxEvents == 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.PendingWait == 0 {
		c.PendingWait = DefaultPendingWait
	}
	if c.OutputTimeout == 0 {
		c.OutputTimeout = DefaultOutputTimeout
	}
}

func (c *Config) annotationLabels() bool { return c.AnnotationLabels == nil || *c.AnnotationLabels }

var windowName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate reports every problem, each prefixed with its key path below
// `history.`.
func (c *Config) Validate() []string {
	var errs []string
	bad := func(path, format string, args ...any) {
		errs = append(errs, path+": "+fmt.Sprintf(format, args...))
	}
	if c.Retain < 0 || c.Retain > DefaultRetain {
		bad("retain", "%s is not between 0 and the cap of %s", c.Retain, DefaultRetain)
	}
	if c.MaxValues < 0 || c.MaxEvents < 0 || c.PendingWait < 0 || c.OutputTimeout < 0 {
		bad("max_values, max_events, pending_wait, output_timeout", "must not be negative")
	}
	retain := c.Retain
	if retain == 0 {
		retain = DefaultRetain
	}
	names := make([]string, 0, len(c.Windows))
	for n := range c.Windows {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w := c.Windows[n]
		at := "windows." + n
		if !windowName.MatchString(n) {
			bad(at, "%q is not a valid name (letters, digits and _, not starting with a digit)", n)
		}
		if _, err := compileWindow(n, w, retain); err != nil {
			bad(at, "%v", err)
		}
	}
	return errs
}

type op int

const (
	opCount op = iota
	opSum
	opFormerly
	opPrevious
)

// windowSpec is a compiled Window.
type windowSpec struct {
	name           string
	op             op
	actions        []string // exact "<server>/<tool>", "<server>/" prefixes, or "*"
	labels         []string
	within         int64 // nanoseconds
	perPrincipal   bool
	field          []string
	fieldName      string
	unit           *big.Rat
	includeCurrent bool
}

func compileWindow(name string, w Window, retain time.Duration) (*windowSpec, error) {
	s := &windowSpec{name: name, labels: w.Labels, within: int64(w.Within), includeCurrent: w.IncludeCurrent}
	switch w.Op {
	case "count":
		s.op = opCount
	case "sum":
		s.op = opSum
	case "formerly":
		s.op = opFormerly
	case "previous":
		s.op = opPrevious
	default:
		return nil, fmt.Errorf("op %q is not one of count, sum, formerly, previous", w.Op)
	}
	if w.Within <= 0 {
		return nil, fmt.Errorf("within: a window needs a positive length")
	}
	if w.Within > retain {
		return nil, fmt.Errorf("within: %s is longer than history.retain %s (the cap on windows)", w.Within, retain)
	}
	switch w.Per {
	case "", "task":
	case "principal":
		s.perPrincipal = true
	default:
		return nil, fmt.Errorf("per: %q is not task or principal", w.Per)
	}
	for _, a := range w.Actions {
		switch {
		case a == "*":
		case strings.HasSuffix(a, "/*") && len(a) > 2 && !strings.Contains(a[:len(a)-2], "/"):
			a = a[:len(a)-1] // "<server>/" prefix
		case strings.Count(a, "/") == 1 && !strings.HasPrefix(a, "/") && !strings.HasSuffix(a, "/") && !strings.Contains(a, "*"):
		default:
			return nil, fmt.Errorf("actions: %q is not <server>/<tool>, <server>/* or *", a)
		}
		s.actions = append(s.actions, a)
	}
	if s.op == opSum {
		if w.Field == "" {
			return nil, fmt.Errorf("field: a sum needs the argument it adds up")
		}
		s.field, s.fieldName = strings.Split(w.Field, "."), w.Field
		for _, p := range s.field {
			if p == "" {
				return nil, fmt.Errorf("field: %q is not a dotted path", w.Field)
			}
		}
		unit := w.Unit
		if unit == "" {
			unit = "1"
		}
		u, ok := new(big.Rat).SetString(unit)
		if !ok || u.Sign() <= 0 {
			return nil, fmt.Errorf("unit: %q is not a positive number", w.Unit)
		}
		s.unit = u
	} else {
		if w.Field != "" || w.Unit != "" {
			return nil, fmt.Errorf("field and unit are for sums only")
		}
	}
	if s.op == opPrevious && s.includeCurrent {
		return nil, fmt.Errorf("include_current does not apply to previous")
	}
	return s, nil
}

// matches tells whether a call of action with labels is one the window
// looks at.
func (s *windowSpec) matches(action string, labels []string) bool {
	if len(s.actions) > 0 {
		ok := false
		for _, a := range s.actions {
			if a == "*" || a == action || (strings.HasSuffix(a, "/") && strings.HasPrefix(action, a)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(s.labels) > 0 {
		for _, l := range s.labels {
			for _, m := range labels {
				if l == m {
					return true
				}
			}
		}
		return false
	}
	return true
}

// maxUnits bounds one summed value, so that a window's sum (at most
// MaxEvents values) always fits in an int64.
const maxUnits = 10_000_000_000_000

// units converts a canonical decimal to whole units of the window.
func (s *windowSpec) units(canon string) (int64, error) {
	r, ok := new(big.Rat).SetString(canon)
	if !ok {
		return 0, fmt.Errorf("%q is not a number", canon)
	}
	r.Quo(r, s.unit)
	if !r.IsInt() {
		return 0, fmt.Errorf("%s is not a whole number of units of %s", canon, s.unit.FloatString(4))
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("%s is negative, and a negative value would lower the sum", canon)
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() > maxUnits {
		return 0, fmt.Errorf("%s is more than %d units", canon, int64(maxUnits))
	}
	return n.Int64(), nil
}
