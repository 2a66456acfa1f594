package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/toolgate/toolgate/internal/store"
)

// Documents: one row per name. An update first takes an advisory lock on
// the name's hash (a row lock would not cover a name not stored yet), so
// replicas changing one document go one after the other and none loses
// another's change.

var _ store.Docs = (*DB)(nil)

// Doc implements store.Docs.
func (d *DB) Doc(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := d.op(ctx)
	defer cancel()
	var b []byte
	err := d.pool.QueryRow(ctx, `SELECT body FROM docs WHERE name = $1`, name).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: document %s: %w", name, err)
	}
	return b, nil
}

// UpdateDoc implements store.Docs.
func (d *DB) UpdateDoc(ctx context.Context, name string, change func([]byte) ([]byte, error)) error {
	var changeErr error
	changed := false
	err := d.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int4, hashtext($2))`, lockDocs, name); err != nil {
			return err
		}
		var cur []byte
		err := tx.QueryRow(ctx, `SELECT body FROM docs WHERE name = $1`, name).Scan(&cur)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		next, err := change(cur)
		if err != nil || next == nil {
			changeErr = err
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO docs (name, body) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET body = excluded.body`, name, next)
		changed = err == nil
		return err
	})
	if err == nil && changed {
		d.notify(ctx, ChannelDocs, name)
	}
	if err != nil && changeErr == nil {
		return fmt.Errorf("postgres: update document %s: %w", name, err)
	}
	return err
}

// DocNames implements store.Docs.
func (d *DB) DocNames(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := d.op(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT name FROM docs WHERE left(name, length($1)) = $1 ORDER BY name COLLATE "C"`, prefix)
	if err != nil {
		return nil, fmt.Errorf("postgres: list documents: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: list documents: %w", err)
	}
	return names, nil
}
