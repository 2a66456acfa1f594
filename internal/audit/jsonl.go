package audit

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

func init() { Register("jsonl", openJSONL) }

// JSONL writes one JSON object per line to a file (fsync after each decision
// record) or to stderr. It is the minimal sink; it has no tamper evidence
// and no group commit (use the sqlite sink for both). It redacts like the
// trail does.
type JSONL struct {
	red  *Redactor
	mu   sync.Mutex
	w    io.Writer
	f    *os.File // nil for stderr
	sync bool
	err  error // sticky: after a failed write nothing more is written
}

func openJSONL(cfg Config, dataDir string) (Sink, error) {
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
	return openJSONLFile(path, red)
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
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
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
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if _, err := j.w.Write(b); err != nil {
		j.err = fmt.Errorf("audit: write: %w", err)
		return j.err
	}
	if durable && j.sync {
		if err := j.f.Sync(); err != nil {
			j.err = fmt.Errorf("audit: fsync: %w", err)
			return j.err
		}
	}
	return nil
}

func (j *JSONL) WriteDecision(_ context.Context, r *Record) error {
	return j.write(redactRecord(j.red, r), true)
}

func (j *JSONL) WriteOutcome(_ context.Context, o *OutcomeRecord) error {
	rec := *o
	rec.Error, _ = j.red.Text(rec.Error)
	return j.write(&rec, true)
}

// Healthy reports the sticky write error, if any.
func (j *JSONL) Healthy() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

func (j *JSONL) Close() error {
	if j.f == nil {
		return nil
	}
	return j.f.Close()
}
