package pin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/datafile"
	"github.com/toolgate/toolgate/internal/store"
)

// File is one server's pin file, <data dir>/pins/<server>.json.
type File struct {
	Server string `json:"server"`
	// Tools are the accepted definitions, by tool name.
	Tools map[string]Pin `json:"tools"`
	// Changed are definitions seen since that differ from the pin, waiting
	// to be accepted.
	Changed map[string]Pin `json:"changed,omitempty"`
	// Rejected are changed definitions a person refused: the tool keeps
	// its pin (and stays refused while the server serves the change), and
	// the same definition is not offered for acceptance again.
	Rejected map[string]Pin `json:"rejected,omitempty"`
}

// Pin is one definition and when it was pinned (or, in File.Changed, first
// seen).
type Pin struct {
	Digest     string          `json:"sha256"`
	Time       time.Time       `json:"time"`
	Definition json.RawMessage `json:"definition"`
}

// Status is what a check found for one tool.
type Status int

const (
	// New: the tool had no pin; its definition is pinned now.
	New Status = iota + 1
	// Same: the definition matches its pin.
	Same
	// Changed: the definition differs from its pin.
	Changed
)

func (s Status) String() string {
	switch s {
	case New:
		return "new"
	case Same:
		return "same"
	case Changed:
		return "changed"
	}
	return "unknown"
}

// Result is the check of one tool.
type Result struct {
	Status Status
	// Pinned is the accepted definition (for Changed, the one that differs).
	Pinned Pin
}

// Store is one server's pins. Processes that front the same server share
// the file: every change is a read-modify-write under an exclusive lock,
// written atomically (temporary file, fsync, rename). Replicas on a shared
// store (PostgreSQL) share the document "pins/<server>" instead, changed
// the same way under the store's lock.
type Store struct {
	server string
	path   string
	docs   store.Docs // nil: the file at path
	now    func() time.Time
}

// docPrefix starts the names of pin documents in a shared store.
const docPrefix = "pins/"

// storeTimeout bounds one read or update of a shared store's pins.
const storeTimeout = 30 * time.Second

// OpenShared returns the store of one server's pins in a shared store.
func OpenShared(docs store.Docs, server string) (*Store, error) {
	if server == "" {
		return nil, errors.New("pin: no server name")
	}
	return &Store{server: server, path: DocName(server), docs: docs, now: time.Now}, nil
}

// DocName is the document of a server's pins in a shared store.
func DocName(server string) string { return docPrefix + server }

// SharedServers lists the servers that have pins in a shared store.
func SharedServers(ctx context.Context, docs store.Docs) ([]string, error) {
	names, err := docs.DocNames(ctx, docPrefix)
	if err != nil {
		return nil, fmt.Errorf("pin: %w", err)
	}
	for i := range names {
		names[i] = strings.TrimPrefix(names[i], docPrefix)
	}
	return names, nil
}

// Dir is the directory of pin files in a data directory.
func Dir(dataDir string) string { return filepath.Join(dataDir, "pins") }

// Open returns the store of one server in the data directory; the file is
// created on the first pin.
func Open(dataDir, server string) (*Store, error) {
	if server == "" {
		return nil, errors.New("pin: no server name")
	}
	return &Store{server: server, path: filepath.Join(Dir(dataDir), fileName(server)), now: time.Now}, nil
}

// Path is the pin file, or the document's name in a shared store.
func (s *Store) Path() string { return s.path }

// fileName makes a server name safe as a file name: path separators and
// other special bytes are escaped, and a leading dot too, so "." and ".."
// cannot name a directory.
func fileName(server string) string {
	n := url.PathEscape(server)
	if strings.HasPrefix(n, ".") {
		n = "%2E" + n[1:]
	}
	return n + ".json"
}

// Servers lists the servers that have a pin file in the data directory.
func Servers(dataDir string) ([]string, error) {
	entries, err := os.ReadDir(Dir(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		if s, err := url.PathUnescape(name); err == nil {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Load reads the pin file (an empty File if there is none).
func (s *Store) Load() (*File, error) {
	var b []byte
	var err error
	if s.docs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		b, err = s.docs.Doc(ctx, s.path)
		if errors.Is(err, store.ErrNotFound) {
			err = fs.ErrNotExist
		}
	} else {
		b, err = os.ReadFile(s.path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Server: s.server, Tools: map[string]Pin{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pin: %w", err)
	}
	return s.parse(b)
}

func (s *Store) parse(b []byte) (*File, error) {
	f := &File{Server: s.server, Tools: map[string]Pin{}}
	if err := json.Unmarshal(b, f); err != nil {
		// A corrupt pin file must not silently re-pin everything.
		return nil, fmt.Errorf("pin: %s is not a valid pin file: %v", s.path, err)
	}
	if f.Tools == nil {
		f.Tools = map[string]Pin{}
	}
	return f, nil
}

// Check compares definitions with their pins: a tool without a pin is
// pinned (trust on first use), a changed definition is recorded in Changed
// for `toolgate pin accept`. An error means nothing can be trusted; the
// caller fails closed.
func (s *Store) Check(defs []Definition) (map[string]Result, error) {
	out := make(map[string]Result, len(defs))
	err := s.update(func(f *File) bool {
		dirty := false
		now := s.now().UTC()
		for _, d := range defs {
			p, ok := f.Tools[d.Name]
			switch {
			case !ok:
				p = Pin{Digest: d.Digest, Time: now, Definition: d.Canonical}
				f.Tools[d.Name] = p
				out[d.Name] = Result{Status: New, Pinned: p}
				dirty = true
			case p.Digest == d.Digest:
				out[d.Name] = Result{Status: Same, Pinned: p}
				if _, stale := f.Changed[d.Name]; stale {
					delete(f.Changed, d.Name) // the server went back
					dirty = true
				}
			default:
				out[d.Name] = Result{Status: Changed, Pinned: p}
				if r, rejected := f.Rejected[d.Name]; rejected && r.Digest == d.Digest {
					continue // refused already
				}
				if c, seen := f.Changed[d.Name]; !seen || c.Digest != d.Digest {
					if f.Changed == nil {
						f.Changed = map[string]Pin{}
					}
					f.Changed[d.Name] = Pin{Digest: d.Digest, Time: now, Definition: d.Canonical}
					dirty = true
				}
			}
		}
		return dirty
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Pinned returns a tool's accepted definition, read from the file now (so a
// running proxy sees an accept made by another process).
func (s *Store) Pinned(tool string) (Pin, bool, error) {
	f, err := s.Load()
	if err != nil {
		return Pin{}, false, err
	}
	p, ok := f.Tools[tool]
	return p, ok, nil
}

// Accept makes the changed definitions of the named tools (all changed
// tools if none is named) their pins. It returns the tools accepted; naming
// a tool that has no pending change is an error.
func (s *Store) Accept(tools []string) ([]string, error) {
	var accepted []string
	var missing []string
	err := s.update(func(f *File) bool {
		names := tools
		if len(names) == 0 {
			for n := range f.Changed {
				names = append(names, n)
			}
			sort.Strings(names)
		}
		for _, n := range names {
			c, ok := f.Changed[n]
			if !ok {
				missing = append(missing, n)
				continue
			}
			c.Time = s.now().UTC()
			f.Tools[n] = c
			delete(f.Changed, n)
			accepted = append(accepted, n)
		}
		return len(missing) == 0 && len(accepted) > 0
	})
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pin: no pending change for %s of server %q", strings.Join(missing, ", "), s.server)
	}
	return accepted, nil
}

// Reject refuses the changed definitions of the named tools: they keep
// their pins, and the same definitions are not offered again (a further
// change is). It returns the tools rejected; naming a tool that has no
// pending change is an error.
func (s *Store) Reject(tools []string) ([]string, error) {
	var rejected, missing []string
	err := s.update(func(f *File) bool {
		for _, n := range tools {
			c, ok := f.Changed[n]
			if !ok {
				missing = append(missing, n)
				continue
			}
			if f.Rejected == nil {
				f.Rejected = map[string]Pin{}
			}
			c.Time = s.now().UTC()
			f.Rejected[n] = c
			delete(f.Changed, n)
			rejected = append(rejected, n)
		}
		return len(missing) == 0 && len(rejected) > 0
	})
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pin: no pending change for %s of server %q", strings.Join(missing, ", "), s.server)
	}
	return rejected, nil
}

// update runs fn on the current file under the lock and writes the file if
// fn reports a change.
func (s *Store) update(fn func(*File) bool) error {
	if s.docs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		return s.docs.UpdateDoc(ctx, s.path, func(cur []byte) ([]byte, error) {
			f := &File{Server: s.server, Tools: map[string]Pin{}}
			if cur != nil {
				var err error
				if f, err = s.parse(cur); err != nil {
					return nil, err
				}
			}
			if !fn(f) {
				return nil, nil
			}
			return json.MarshalIndent(f, "", "  ")
		})
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	unlock, err := datafile.Lock(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("pin: lock: %w", err)
	}
	defer unlock()
	f, err := s.Load()
	if err != nil {
		return err
	}
	if !fn(f) {
		return nil
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	return writeAtomic(s.path, append(b, '\n'))
}

func writeAtomic(path string, b []byte) error {
	if err := datafile.WriteAtomic(path, b); err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	return nil
}
