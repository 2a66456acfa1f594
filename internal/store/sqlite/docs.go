package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/toolgate/toolgate/internal/store"
)

// Documents: one row per name. An update runs in a write transaction, which
// holds SQLite's write lock: no other process can change the row between
// the read and the write.
const docSchema = `
CREATE TABLE IF NOT EXISTS docs (
	name TEXT PRIMARY KEY,
	body BLOB NOT NULL
) WITHOUT ROWID;
`

func init() { schemas = append(schemas, docSchema) }

var _ store.Docs = (*DB)(nil)

// Doc implements store.Docs.
func (d *DB) Doc(ctx context.Context, name string) ([]byte, error) {
	var b []byte
	err := d.db.QueryRowContext(ctx, `SELECT body FROM docs WHERE name = ?`, name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: document %s: %w", name, err)
	}
	return b, nil
}

// UpdateDoc implements store.Docs.
func (d *DB) UpdateDoc(ctx context.Context, name string, change func([]byte) ([]byte, error)) error {
	tx, done, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer done()
	var cur []byte
	err = tx.QueryRowContext(ctx, `SELECT body FROM docs WHERE name = ?`, name).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: document %s: %w", name, err)
	}
	next, err := change(cur)
	if err != nil || next == nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO docs (name, body) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET body = excluded.body`, name, next); err != nil {
		return fmt.Errorf("sqlite: write document %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit document %s: %w", name, err)
	}
	return nil
}

// DocNames implements store.Docs.
func (d *DB) DocNames(ctx context.Context, prefix string) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT name FROM docs WHERE substr(name, 1, ?) = ? ORDER BY name`, len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list documents: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("sqlite: list documents: %w", err)
		}
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out, rows.Err()
}
