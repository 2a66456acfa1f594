package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// History events: one row per event, numbered by seq (the rowid). SQLite
// serialises writers, so seq order is commit order and a reader that asks
// for seq > N after having seen N misses nothing. The two indexes serve the
// two ways the history stage reads: one task's (or principal's) history,
// and everything one principal did.
const historySchema = `
CREATE TABLE IF NOT EXISTS history_events (
	seq       INTEGER PRIMARY KEY,
	time      INTEGER NOT NULL, -- Unix nanoseconds
	key       TEXT    NOT NULL,
	principal TEXT    NOT NULL,
	origin    TEXT    NOT NULL,
	body      BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS history_events_key ON history_events(key, seq);
CREATE INDEX IF NOT EXISTS history_events_principal ON history_events(principal, seq);
CREATE INDEX IF NOT EXISTS history_events_time ON history_events(time);
CREATE TABLE IF NOT EXISTS history_meta (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`

const insertHistory = `INSERT INTO history_events (time, key, principal, origin, body) VALUES (?,?,?,?,?)`

func init() {
	schemas = append(schemas, historySchema)
	hot = append(hot, insertHistory)
}

var (
	_ store.History            = (*DB)(nil)
	_ store.HistoryCounterMark = (*DB)(nil)
)

// HistoryCounterMark implements store.HistoryCounterMark.
func (d *DB) HistoryCounterMark(ctx context.Context) (string, error) {
	var v string
	err := d.db.QueryRowContext(ctx, `SELECT value FROM history_meta WHERE name = 'counter'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: history: %w", err)
	}
	return v, nil
}

// SetHistoryCounterMark implements store.HistoryCounterMark.
func (d *DB) SetHistoryCounterMark(ctx context.Context, mark string) error {
	if _, err := d.exec(ctx, `INSERT INTO history_meta (name, value) VALUES ('counter', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, mark); err != nil {
		return fmt.Errorf("sqlite: history: %w", err)
	}
	return nil
}

// AppendHistory implements store.History.
func (d *DB) AppendHistory(ctx context.Context, evs []store.HistoryEvent) error {
	if len(evs) == 0 {
		return nil
	}
	tx, done, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer done()
	st, err := d.stmt(ctx, tx, insertHistory)
	if err != nil {
		return fmt.Errorf("sqlite: history: %w", err)
	}
	defer st.Close()
	for i := range evs {
		e := &evs[i]
		e.Seq, e.Conflict = 0, false
		// The write lock is held (BEGIN IMMEDIATE): nothing can be stored
		// between this check and the insert.
		if conflict, err := d.historyConflict(ctx, tx, e); err != nil {
			return err
		} else if conflict {
			e.Conflict = true
			continue
		}
		res, err := st.ExecContext(ctx, e.Time.UnixNano(), e.Key, e.Principal, e.Origin, e.Body)
		if err != nil {
			return fmt.Errorf("sqlite: append history: %w", err)
		}
		if e.Seq, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: append history: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit history: %w", err)
	}
	return nil
}

// historyConflict tells whether an event of another origin matches one of
// e.Unless.
func (d *DB) historyConflict(ctx context.Context, tx *sql.Tx, e *store.HistoryEvent) (bool, error) {
	for _, f := range e.Unless {
		var q, who string
		switch {
		case f.Key != "" && f.Principal == "":
			q, who = `SELECT 1 FROM history_events WHERE key = ? AND seq > ? AND origin <> ? LIMIT 1`, f.Key
		case f.Principal != "" && f.Key == "":
			q, who = `SELECT 1 FROM history_events WHERE principal = ? AND seq > ? AND origin <> ? LIMIT 1`, f.Principal
		default:
			return false, errors.New("sqlite: history: a condition selects one key or one principal")
		}
		var one int
		switch err := tx.QueryRowContext(ctx, q, who, f.AfterSeq, e.Origin).Scan(&one); {
		case err == nil:
			return true, nil
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("sqlite: history: %w", err)
		}
	}
	return false, nil
}

// ScanHistory implements store.History.
func (d *DB) ScanHistory(ctx context.Context, f store.HistoryFilter, fn func(*store.HistoryEvent) error) error {
	var q string
	var who string
	switch {
	case f.Key != "" && f.Principal == "":
		q, who = `SELECT seq, time, key, principal, origin, body FROM history_events WHERE key = ? AND seq > ? AND time >= ? ORDER BY seq`, f.Key
	case f.Principal != "" && f.Key == "":
		q, who = `SELECT seq, time, key, principal, origin, body FROM history_events WHERE principal = ? AND seq > ? AND time >= ? ORDER BY seq`, f.Principal
	default:
		return errors.New("sqlite: history: a scan selects one key or one principal")
	}
	var since int64
	if !f.Since.IsZero() {
		since = f.Since.UnixNano()
	}
	rows, err := d.db.QueryContext(ctx, q, who, f.AfterSeq, since)
	if err != nil {
		return fmt.Errorf("sqlite: history: %w", err)
	}
	defer rows.Close()
	var e store.HistoryEvent
	for rows.Next() {
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Key, &e.Principal, &e.Origin, &e.Body); err != nil {
			return fmt.Errorf("sqlite: history: %w", err)
		}
		e.Time = time.Unix(0, at)
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: history: %w", err)
	}
	return nil
}

// PruneHistory implements store.History. It never deletes the newest event:
// SQLite numbers a new row max(seq)+1, so an empty table would start again
// at 1, and a process that had read up to seq N would skip every event
// numbered up to N.
func (d *DB) PruneHistory(ctx context.Context, before time.Time) (int64, error) {
	res, err := d.exec(ctx, `DELETE FROM history_events WHERE time < ?
		AND seq < (SELECT max(seq) FROM history_events)`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune history: %w", err)
	}
	return res.RowsAffected()
}
