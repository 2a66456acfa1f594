package audit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// JSONLExportConfig configures the rotated JSON-lines exporter: the trail's
// records, byte for byte, one per line, in files that rotate by size.
type JSONLExportConfig struct {
	// Path is the file written to (relative paths are in the data
	// directory). Rotated files are Path.1 (newest) … Path.<Keep>.
	Path string `yaml:"path"`
	// MaxBytes rotates the file before it would grow past this (default
	// 100 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// Keep is how many rotated files are kept (default 10).
	Keep int `yaml:"keep"`
	// Poll is how often the trail is checked for new records (default 1s).
	Poll time.Duration `yaml:"poll"`
}

// JSONLExporterName is the rotated JSON-lines exporter's cursor name.
const JSONLExporterName = "jsonl"

// NewJSONLExporter starts writing the trail's records to rotated files.
// Each batch is fsynced before the cursor moves, so a crash at worst
// repeats records at the end of a file, never skips one.
func NewJSONLExporter(log store.AuditLog, cfg JSONLExportConfig, dataDir string, logger *slog.Logger) (*Exporter, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("audit.export.jsonl.path is required")
	}
	path := cfg.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(dataDir, path)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 100 << 20
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 10
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	ship := func(_ context.Context, entries []*store.AuditEntry) error {
		var buf []byte
		for _, e := range entries {
			buf = append(buf, e.Body...)
			buf = append(buf, '\n')
		}
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 && fi.Size()+int64(len(buf)) > cfg.MaxBytes {
			if err := rotate(path, cfg.Keep); err != nil {
				return err
			}
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return NewExporter(JSONLExporterName, log, 512, cfg.Poll, logger, ship), nil
}

// rotate shifts path.N-1 → path.N … path → path.1, dropping the oldest.
func rotate(path string, keep int) error {
	os.Remove(fmt.Sprintf("%s.%d", path, keep))
	for i := keep - 1; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", path, i+1)); err != nil {
				return err
			}
		}
	}
	return os.Rename(path, path+".1")
}
