package policy

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

//go:embed builtin/*.cedar
var builtinFS embed.FS

// OrgLayer is the name of the organisation's layer, the first of every
// decision.
const OrgLayer = "org"

// Config is the policy part of toolgate's configuration.
type Config struct {
	// Dirs are directories of *.cedar files (searched recursively) that form
	// the organisation layer. With none, the built-in policy set applies.
	Dirs []string `yaml:"dirs"`
	// Layers are further named layers (a team's policies under a central
	// baseline, say). A call is allowed only if every layer allows it.
	Layers []LayerConfig `yaml:"layers"`
	// Watch reloads the policies when a file changes.
	Watch *bool `yaml:"watch"`
}

// LayerConfig is one extra policy layer.
type LayerConfig struct {
	Name string   `yaml:"name"`
	Dirs []string `yaml:"dirs"`
}

// Validate checks the layer names and directories.
func (c Config) Validate() error {
	seen := map[string]bool{OrgLayer: true}
	for i, l := range c.Layers {
		switch {
		case l.Name == "":
			return fmt.Errorf("policy.layers[%d].name: is required", i)
		case seen[l.Name]:
			return fmt.Errorf("policy.layers[%d].name: layer %q is defined twice (%q is the layer of policy.dirs)", i, l.Name, OrgLayer)
		case len(l.Dirs) == 0:
			return fmt.Errorf("policy.layers[%d].dirs: a layer needs at least one directory", i)
		}
		seen[l.Name] = true
	}
	return nil
}

// allDirs lists every directory to watch.
func (c Config) allDirs() []string {
	dirs := append([]string(nil), c.Dirs...)
	for _, l := range c.Layers {
		dirs = append(dirs, l.Dirs...)
	}
	return dirs
}

// WatchEnabled is the default-applied value of Watch (true).
func (c Config) WatchEnabled() bool { return c.Watch == nil || *c.Watch }

// BuiltinSources returns the embedded default policy set.
func BuiltinSources() []Source {
	var out []Source
	entries, _ := fs.ReadDir(builtinFS, "builtin")
	for _, e := range entries {
		b, _ := fs.ReadFile(builtinFS, "builtin/"+e.Name())
		out = append(out, Source{Name: "builtin/" + e.Name(), Text: b})
	}
	return out
}

// ReadDirs reads every *.cedar file below the given directories. Hidden files
// and directories (".name") are skipped, so editors' temporary files are not
// loaded half-written.
func ReadDirs(dirs []string) ([]Source, error) {
	var out []Source
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, &Error{Code: CodeLoad, File: dir, Message: "cannot read policy directory: " + errText(err)}
		}
		if !st.IsDir() {
			if !strings.HasSuffix(dir, ".cedar") {
				return nil, &Error{Code: CodeLoad, File: dir, Message: "not a directory or a .cedar file"}
			}
			b, err := os.ReadFile(dir)
			if err != nil {
				return nil, &Error{Code: CodeLoad, File: dir, Message: errText(err)}
			}
			out = append(out, Source{Name: dir, Text: b})
			continue
		}
		err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return &Error{Code: CodeLoad, File: path, Message: errText(err)}
			}
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !strings.HasSuffix(d.Name(), ".cedar") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return &Error{Code: CodeLoad, File: path, Message: errText(err)}
			}
			out = append(out, Source{Name: path, Text: b})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Load builds the layers of the config: the organisation layer (from Dirs,
// or the built-in set when none is given), then each extra layer.
func Load(cfg Config) ([]*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	org, err := loadLayer(OrgLayer, cfg.Dirs)
	if err != nil {
		return nil, err
	}
	layers := []*Set{org}
	for _, l := range cfg.Layers {
		set, err := loadLayer(l.Name, l.Dirs)
		if err != nil {
			return nil, err
		}
		layers = append(layers, set)
	}
	return layers, nil
}

func loadLayer(name string, dirs []string) (*Set, error) {
	if len(dirs) == 0 {
		return NewSet(name, BuiltinSources())
	}
	srcs, err := ReadDirs(dirs)
	if err != nil {
		return nil, err
	}
	return NewSet(name, srcs)
}

// Engine holds the configured layers and swaps them atomically on reload. A
// reload that fails keeps the previous layers.
type Engine struct {
	cfg Config
	log *slog.Logger
	cur atomic.Pointer[[]*Set]

	mu        sync.Mutex // serialises reloads
	lastError atomic.Pointer[string]
	reloads   atomic.Int64
	watchErr  atomic.Pointer[string]
}

// NewEngine loads the policies once; an invalid set is an error.
func NewEngine(cfg Config, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	layers, err := Load(cfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: log}
	e.cur.Store(&layers)
	return e, nil
}

// NewStaticEngine serves fixed layers (tests, the Go library).
func NewStaticEngine(layers ...*Set) *Engine {
	e := &Engine{log: slog.New(slog.DiscardHandler)}
	e.cur.Store(&layers)
	return e
}

// Layers returns the layers in force now, the organisation layer first.
func (e *Engine) Layers() []*Set {
	if p := e.cur.Load(); p != nil {
		return *p
	}
	return nil
}

// Current returns the organisation layer in force now.
func (e *Engine) Current() *Set {
	if l := e.Layers(); len(l) > 0 {
		return l[0]
	}
	return nil
}

// Version identifies the policies in force: the organisation layer's
// version, followed by each extra layer's as name=version.
func (e *Engine) Version() string { return LayersVersion(e.Layers()) }

// LastReloadError is the error of the last failed reload, "" after a
// successful one.
func (e *Engine) LastReloadError() string {
	if p := e.lastError.Load(); p != nil {
		return *p
	}
	return ""
}

// Reload re-reads the policy directories. On error the previous set stays in
// force and the error is returned and logged.
func (e *Engine) Reload() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	layers, err := Load(e.cfg)
	if err != nil {
		msg := err.Error()
		e.lastError.Store(&msg)
		e.log.Error("policy reload failed; keeping the previous policies",
			"version", e.Version(), "error", msg)
		return err
	}
	empty := ""
	e.lastError.Store(&empty)
	old := e.Version()
	e.cur.Store(&layers)
	e.reloads.Add(1)
	if v := LayersVersion(layers); v != old {
		n := 0
		for _, l := range layers {
			n += l.Len()
		}
		e.log.Info("policies reloaded", "version", v, "policies", n)
	}
	return nil
}

// WatchOptions tune StartWatch.
type WatchOptions struct {
	// OnError is told of every watch error while running (a metric).
	OnError func(error)
	// reloaded is told of every reload the watch makes (tests).
	reloaded func(error)
}

// ErrWatch marks the errors of StartWatch: hot reload cannot be set up.
var ErrWatch = errors.New("policy watch")

// StartWatch watches the policy directories and reloads on changes until ctx
// ends. It returns once every directory is watched, or an error if any
// cannot be (no watcher, a directory that cannot be watched): hot reload
// that silently does not work would leave policies in force that their
// files no longer say, so the caller must not go on as if it did.
//
// While it runs, a watch error (events lost, a new subdirectory that cannot
// be watched) is logged, told to OnError, and answered by a full reload, so
// that a lost event is not a lost change; if the watcher stops, WatchError
// says so. Changes are debounced so that an editor's save (often several
// events) is one reload.
func (e *Engine) StartWatch(ctx context.Context, o WatchOptions) error {
	dirs := e.cfg.allDirs()
	if len(dirs) == 0 {
		return nil // the built-in set does not change
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("%w: cannot start: %v", ErrWatch, err)
	}
	if err := watchDirs(w, dirs); err != nil {
		w.Close()
		return fmt.Errorf("%w: %v", ErrWatch, err)
	}
	go e.watch(ctx, w, dirs, o)
	return nil
}

// watchDirs adds every directory below dirs (and the directory of a single
// .cedar file) to the watcher; it is called again for new subdirectories.
func watchDirs(w *fsnotify.Watcher, dirs []string) error {
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			if err := w.Add(filepath.Dir(dir)); err != nil {
				return fmt.Errorf("cannot watch %s: %v", filepath.Dir(dir), err)
			}
			continue
		}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("cannot watch %s: %v", path, errText(err))
			}
			if !d.IsDir() {
				return nil
			}
			if err := w.Add(path); err != nil {
				return fmt.Errorf("cannot watch %s: %v", path, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// WatchError says why hot reload stopped ("" while it works, or when it
// was never started).
func (e *Engine) WatchError() string {
	if p := e.watchErr.Load(); p != nil {
		return *p
	}
	return ""
}

func (e *Engine) watch(ctx context.Context, w *fsnotify.Watcher, dirs []string, o WatchOptions) {
	defer w.Close()
	report := func(err error) {
		e.log.Error("policy watch error", "error", err)
		if o.OnError != nil {
			o.OnError(err)
		}
	}
	const debounce = 150 * time.Millisecond
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	schedule := func() {
		if timer != nil {
			timer.Stop()
		}
		timer = time.AfterFunc(debounce, func() {
			select {
			case fire <- struct{}{}:
			default:
			}
		})
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				e.stopped(errors.New("the file watcher stopped"), report)
				return
			}
			if ev.Has(fsnotify.Create) {
				if err := watchDirs(w, dirs); err != nil { // new subdirectories
					report(err)
				}
			}
			schedule()
		case err, ok := <-w.Errors:
			if !ok {
				e.stopped(errors.New("the file watcher stopped"), report)
				return
			}
			// Events may have been lost (a full queue): read every file
			// again rather than miss a change.
			report(fmt.Errorf("%v; reloading every policy file", err))
			if err := watchDirs(w, dirs); err != nil {
				report(err)
			}
			schedule()
		case <-fire:
			err := e.Reload()
			if o.reloaded != nil {
				o.reloaded(err)
			}
		}
	}
}

// stopped records that hot reload ended while toolgate runs.
func (e *Engine) stopped(err error, report func(error)) {
	msg := "policy hot reload stopped: " + err.Error() + "; policy changes no longer take effect until toolgate restarts"
	e.watchErr.Store(&msg)
	report(err)
}
