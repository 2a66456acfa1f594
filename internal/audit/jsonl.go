package audit

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/datafile"
)

func init() { Register("jsonl", openJSONL) }

// JSONL writes one JSON object per line to a file or to stderr. It is the
// minimal sink: no tamper evidence (use the sqlite sink for that). It
// redacts like the trail does. A decision record returns once the file is
// fsynced past it; concurrent writers share one fsync (group sync: whoever
// syncs, syncs everything written so far). Outcome records are written and
// not waited for: the next decision's fsync covers them.
type JSONL struct {
	red  *Redactor
	mu   sync.Mutex // guards w, written, err
	w    io.Writer
	f    *os.File // nil for stderr
	sync bool
	err  error // sticky: after a failed write or fsync nothing more is written

	written uint64     // records written (under mu)
	syncMu  sync.Mutex // one fsync at a time; guards synced, syncs
	synced  uint64     // records known to be on stable storage
	syncs   uint64     // fsyncs done, for tests

	// lazy is durability "os": decisions are written, not waited for an
	// fsync; the flusher syncs every FlushInterval.
	lazy      bool
	flushStop chan struct{}
	flushDone chan struct{}
	onFlush   func() // tests
}

func openJSONL(cfg Config, dataDir string) (Sink, error) {
	mode, err := cfg.DurabilityMode()
	if err != nil {
		return nil, err
	}
	path := cfg.Path
	keyDir := dataDir
	if keyDir == "" && path != "-" && path != "" {
		keyDir = filepath.Dir(path)
	}
	var key []byte
	if keyDir != "" {
		k, err := LoadOrCreateRedactionKey(keyDir)
		if err != nil {
			return nil, err
		}
		key = k
	} else {
		// Nowhere to keep a key: tokens are stable within this process only.
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	red, err := NewRedactor(cfg.Redact, key)
	if err != nil {
		return nil, err
	}
	if path == "-" {
		return &JSONL{w: os.Stderr, red: red}, nil
	}
	if path == "" {
		if dataDir == "" {
			return nil, errors.New("audit: no path for the jsonl sink and no data directory")
		}
		path = filepath.Join(dataDir, "audit.jsonl")
	}
	j, err := openJSONLFile(path, red)
	if err != nil {
		return nil, err
	}
	if mode == DurabilityOS {
		j.startFlusher()
	}
	return j, nil
}

// startFlusher switches j to durability "os".
func (j *JSONL) startFlusher() {
	j.lazy = true
	j.flushStop, j.flushDone = make(chan struct{}), make(chan struct{})
	go j.flusher()
}

// flusher syncs, every FlushInterval, the records written since the last
// sync (durability "os").
func (j *JSONL) flusher() {
	defer close(j.flushDone)
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-j.flushStop:
			return
		case <-tick.C:
		}
		j.mu.Lock()
		written := j.written
		j.mu.Unlock()
		j.syncPast(written) // a failure is sticky: later records are refused
		if j.onFlush != nil {
			j.onFlush()
		}
	}
}

// OpenJSONLFile opens (or creates, mode 0600) an append-only JSONL file,
// redacting with the default rules and a key kept beside the file.
func OpenJSONLFile(path string) (*JSONL, error) {
	key, err := LoadOrCreateRedactionKey(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	red, err := NewRedactor(RedactConfig{}, key)
	if err != nil {
		return nil, err
	}
	return openJSONLFile(path, red)
}

func openJSONLFile(path string, red *Redactor) (*JSONL, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	case err == nil:
		// A new file: fsyncing its records is not enough while its
		// directory entry can still be lost in a crash.
		if err = datafile.SyncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &JSONL{w: f, f: f, sync: true, red: red}, nil
}

func (j *JSONL) write(v any, durable bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("audit: encode record: %w", err)
	}
	b = append(b, '\n')
	mine, err := j.append(b)
	if err != nil || !durable || !j.sync || j.lazy {
		return err
	}
	return j.syncPast(mine)
}

// append writes one line and returns its number.
func (j *JSONL) append(line []byte) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if _, err := j.w.Write(line); err != nil {
		j.err = fmt.Errorf("audit: write: %w", err)
		return 0, j.err
	}
	j.written++
	return j.written, nil
}

// syncPast returns once record n is on stable storage: by an fsync of its
// own, which covers every record written before it starts, or by one that
// another writer started after n was written.
func (j *JSONL) syncPast(n uint64) error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	if j.synced >= n {
		return j.Healthy()
	}
	j.mu.Lock()
	upTo, err := j.written, j.err
	j.mu.Unlock()
	if err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		j.mu.Lock()
		j.err = fmt.Errorf("audit: fsync: %w", err)
		j.mu.Unlock()
		return j.Healthy()
	}
	j.synced = upTo
	j.syncs++
	return nil
}

func (j *JSONL) WriteDecision(_ context.Context, r *Record) error {
	return j.write(redactRecord(j.red, r), true)
}

func (j *JSONL) WriteOutcome(_ context.Context, o *OutcomeRecord) error {
	rec := *o
	rec.Error, _ = j.red.Text(rec.Error)
	return j.write(&rec, false)
}

// Probe checks that the file can be made durable now (an fsync), besides
// the last write's error. Stderr has nothing to check.
func (j *JSONL) Probe(context.Context) error {
	if err := j.Healthy(); err != nil || j.f == nil {
		return err
	}
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("audit: %s cannot be synced: %w", j.f.Name(), err)
	}
	return nil
}

// Healthy reports the sticky write error, if any.
func (j *JSONL) Healthy() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Close makes every record written durable (outcomes are not waited for
// when written) and closes the file; an error means records may be lost.
func (j *JSONL) Close() error {
	if j.f == nil {
		return nil
	}
	if j.flushStop != nil {
		close(j.flushStop)
		<-j.flushDone
	}
	j.mu.Lock()
	written := j.written
	j.mu.Unlock()
	err := j.syncPast(written)
	if cerr := j.f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("audit: close %s: %w", j.f.Name(), cerr))
	}
	return err
}
