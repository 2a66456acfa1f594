package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// The audit trail. Records are numbered by seq (the rowid, so lookups by seq
// and "the last record" cost one B-tree step). The body is the record's exact
// bytes; the other columns copy values from it for queries. The indexes are
// the ones queries need most; every index slows appends, so there are few.
const auditSchema = `
CREATE TABLE IF NOT EXISTS audit_records (
	seq          INTEGER PRIMARY KEY,
	kind         TEXT    NOT NULL,
	decision_id  TEXT    NOT NULL,
	time         INTEGER NOT NULL, -- Unix nanoseconds
	principal    TEXT    NOT NULL DEFAULT '',
	on_behalf_of TEXT    NOT NULL DEFAULT '',
	task_id      TEXT    NOT NULL DEFAULT '',
	server       TEXT    NOT NULL DEFAULT '',
	tool         TEXT    NOT NULL DEFAULT '',
	effect       TEXT    NOT NULL DEFAULT '',
	status       TEXT    NOT NULL DEFAULT '',
	body         BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_decision_id ON audit_records(decision_id);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records(time);
CREATE INDEX IF NOT EXISTS audit_records_principal ON audit_records(principal) WHERE kind = 'decision';
CREATE INDEX IF NOT EXISTS audit_records_task_id ON audit_records(task_id) WHERE kind = 'decision';
CREATE TABLE IF NOT EXISTS audit_checkpoints (
	seq       INTEGER PRIMARY KEY, -- the last record the checkpoint covers
	time      INTEGER NOT NULL,
	body      BLOB    NOT NULL,
	signature BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_cursors (
	name TEXT PRIMARY KEY,
	seq  INTEGER NOT NULL
);
`

const recordColumns = `seq, kind, decision_id, time, principal, on_behalf_of, task_id, server, tool, effect, status, body`

var _ store.AuditLog = (*DB)(nil)

// AppendAudit implements store.AuditLog. The transaction starts with BEGIN
// IMMEDIATE (Open sets _txlock), so it holds SQLite's write lock while build
// runs: no other writer, in this process or another, can move the head.
func (d *DB) AppendAudit(ctx context.Context, build func(store.AuditHead) (store.AuditBatch, error)) error {
	tx, done, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer done()

	var head store.AuditHead
	q, err := d.stmt(ctx, tx, auditHeadQuery)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	last, err := scanEntry(q.QueryRowContext(ctx))
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("sqlite: read the audit head: %w", err)
	default:
		head.Last = last
	}
	if q, err = d.stmt(ctx, tx, lastCheckpointQuery); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	cp, err := scanCheckpoint(q.QueryRowContext(ctx))
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("sqlite: read the last checkpoint: %w", err)
	default:
		head.LastCheckpoint = cp
	}

	b, err := build(head)
	if err != nil {
		return err
	}
	next := uint64(1)
	if head.Last != nil {
		next = head.Last.Seq + 1
	}
	for i := range b.Entries {
		if b.Entries[i].Seq != next {
			// The builder numbered the batch from a head it did not get.
			return fmt.Errorf("sqlite: audit record numbered %d, expected %d", b.Entries[i].Seq, next)
		}
		next++
	}
	if err := d.insertRecords(ctx, tx, b.Entries); err != nil {
		return err
	}
	if c := b.Checkpoint; c != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, time, body, signature) VALUES (?,?,?,?)`,
			int64(c.Seq), c.Time.UnixNano(), c.Body, c.Signature); err != nil {
			return fmt.Errorf("sqlite: append audit checkpoint %d: %w", c.Seq, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// rowsPerInsert is how many records one INSERT statement carries: one
// statement per row spends most of its time in per-statement overhead
// (database/sql, binding, the VDBE start), so rows go in groups.
const rowsPerInsert = 32

const recordParams = "(?,?,?,?,?,?,?,?,?,?,?,?)"

var (
	insertMany = `INSERT INTO audit_records (` + recordColumns + `) VALUES ` +
		strings.TrimSuffix(strings.Repeat(recordParams+",", rowsPerInsert), ",")
	insertOne           = `INSERT INTO audit_records (` + recordColumns + `) VALUES ` + recordParams
	auditHeadQuery      = `SELECT ` + recordColumns + ` FROM audit_records ORDER BY seq DESC LIMIT 1`
	lastCheckpointQuery = `SELECT seq, time, body, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`
)

func init() { hot = append(hot, insertMany, insertOne, auditHeadQuery, lastCheckpointQuery) }

// insertRecords inserts entries, rowsPerInsert at a time, then the rest
// one by one.
func (d *DB) insertRecords(ctx context.Context, tx *sql.Tx, entries []store.AuditEntry) error {
	args := make([]any, 0, 12*rowsPerInsert)
	appendArgs := func(e *store.AuditEntry) {
		args = append(args, int64(e.Seq), e.Kind, e.DecisionID, e.Time.UnixNano(),
			e.Principal, e.OnBehalfOf, e.TaskID, e.Server, e.Tool, e.Effect, e.Status, e.Body)
	}
	if len(entries) >= rowsPerInsert {
		many, err := d.stmt(ctx, tx, insertMany)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		defer many.Close()
		for len(entries) >= rowsPerInsert {
			args = args[:0]
			for i := range rowsPerInsert {
				appendArgs(&entries[i])
			}
			if _, err := many.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("sqlite: append audit records %d to %d: %w", entries[0].Seq, entries[rowsPerInsert-1].Seq, err)
			}
			entries = entries[rowsPerInsert:]
		}
	}
	if len(entries) == 0 {
		return nil
	}
	one, err := d.stmt(ctx, tx, insertOne)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer one.Close()
	for i := range entries {
		args = args[:0]
		appendArgs(&entries[i])
		if _, err := one.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: append audit record %d: %w", entries[i].Seq, err)
		}
	}
	return nil
}

// ScanAudit implements store.AuditLog.
func (d *DB) ScanAudit(ctx context.Context, f store.AuditFilter, fn func(*store.AuditEntry) error) error {
	var decision []string // conditions on decision records
	var dargs []any
	eq := func(col, v string) {
		if v != "" {
			decision = append(decision, col+" = ?")
			dargs = append(dargs, v)
		}
	}
	eq("principal", f.Principal)
	eq("on_behalf_of", f.OnBehalfOf)
	eq("task_id", f.TaskID)
	eq("server", f.Server)
	eq("tool", f.Tool)
	eq("effect", f.Effect)

	var where []string // conditions on every record
	var args []any
	if f.AfterSeq > 0 {
		where = append(where, "seq > ?")
		args = append(args, int64(f.AfterSeq))
	}
	if f.DecisionID != "" {
		where = append(where, "decision_id = ?")
		args = append(args, f.DecisionID)
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, f.Until.UnixNano())
	}
	if len(decision) > 0 {
		cond := "kind = 'decision' AND " + strings.Join(decision, " AND ")
		if f.WithOutcomes {
			// An outcome matches when its decision does.
			where = append(where, "(("+cond+") OR (kind = 'outcome' AND decision_id IN (SELECT decision_id FROM audit_records WHERE "+cond+")))")
			args = append(args, dargs...)
			args = append(args, dargs...)
		} else {
			where = append(where, "("+cond+")")
			args = append(args, dargs...)
		}
	}
	q := `SELECT ` + recordColumns + ` FROM audit_records`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	switch {
	case f.Last > 0:
		q = `SELECT * FROM (` + q + ` ORDER BY seq DESC LIMIT ?) ORDER BY seq`
		args = append(args, f.Last)
	case f.Limit > 0:
		q += ` ORDER BY seq LIMIT ?`
		args = append(args, f.Limit)
	default:
		q += ` ORDER BY seq`
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: query audit records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return fmt.Errorf("sqlite: read audit record: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read audit records: %w", err)
	}
	return nil
}

// AuditCheckpoints implements store.AuditLog.
func (d *DB) AuditCheckpoints(ctx context.Context, fn func(*store.AuditCheckpoint) error) error {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, time, body, signature FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("sqlite: query audit checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return fmt.Errorf("sqlite: read audit checkpoint: %w", err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read audit checkpoints: %w", err)
	}
	return nil
}

// AuditCursor implements store.AuditLog.
func (d *DB) AuditCursor(ctx context.Context, name string) (uint64, error) {
	var seq int64
	err := d.db.QueryRowContext(ctx, `SELECT seq FROM audit_cursors WHERE name = ?`, name).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: read audit cursor %q: %w", name, err)
	}
	return uint64(seq), nil
}

// SetAuditCursor implements store.AuditLog.
func (d *DB) SetAuditCursor(ctx context.Context, name string, seq uint64) error {
	_, err := d.exec(ctx, `INSERT INTO audit_cursors (name, seq) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`, name, int64(seq))
	if err != nil {
		return fmt.Errorf("sqlite: set audit cursor %q: %w", name, err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanEntry(s scanner) (*store.AuditEntry, error) {
	var e store.AuditEntry
	var seq, t int64
	if err := s.Scan(&seq, &e.Kind, &e.DecisionID, &t, &e.Principal, &e.OnBehalfOf, &e.TaskID,
		&e.Server, &e.Tool, &e.Effect, &e.Status, &e.Body); err != nil {
		return nil, err
	}
	e.Seq = uint64(seq)
	e.Time = time.Unix(0, t).UTC()
	return &e, nil
}

func scanCheckpoint(s scanner) (*store.AuditCheckpoint, error) {
	var c store.AuditCheckpoint
	var seq, t int64
	if err := s.Scan(&seq, &t, &c.Body, &c.Signature); err != nil {
		return nil, err
	}
	c.Seq = uint64(seq)
	c.Time = time.Unix(0, t).UTC()
	return &c, nil
}
