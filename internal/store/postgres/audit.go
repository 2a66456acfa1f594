package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toolgate/toolgate/internal/store"
)

// The audit trail is one chain in one global order: an append takes the
// trail's advisory lock for its transaction, reads the head, and commits
// its records after it, so appends of every replica line up one after the
// other and each builds on the true head.

const recordColumns = `seq, kind, decision_id, time, principal, on_behalf_of, task_id, server, tool, effect, status, body`

var _ store.AuditLog = (*DB)(nil)

// AppendAudit implements store.AuditLog.
func (d *DB) AppendAudit(ctx context.Context, build func(store.AuditHead) (store.AuditBatch, error)) error {
	return d.tx(ctx, func(tx pgx.Tx) error {
		// The lock, the head and the last checkpoint in one round trip.
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, lockAudit)
		b.Queue(`SELECT ` + recordColumns + ` FROM audit_records ORDER BY seq DESC LIMIT 1`)
		b.Queue(`SELECT seq, time, body, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`)
		res := tx.SendBatch(ctx, b)
		if _, err := res.Exec(); err != nil {
			res.Close()
			return fmt.Errorf("postgres: lock the audit trail: %w", err)
		}
		var head store.AuditHead
		last, err := scanEntry(res.QueryRow())
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			res.Close()
			return fmt.Errorf("postgres: read the audit head: %w", err)
		default:
			head.Last = last
		}
		cp, err := scanCheckpoint(res.QueryRow())
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			res.Close()
			return fmt.Errorf("postgres: read the last checkpoint: %w", err)
		default:
			head.LastCheckpoint = cp
		}
		if err := res.Close(); err != nil {
			return fmt.Errorf("postgres: read the audit head: %w", err)
		}

		out, err := build(head)
		if err != nil {
			return err
		}
		next := uint64(1)
		if head.Last != nil {
			next = head.Last.Seq + 1
		}
		for i := range out.Entries {
			if out.Entries[i].Seq != next {
				// The builder numbered the batch from a head it did not get.
				return fmt.Errorf("postgres: audit record numbered %d, expected %d", out.Entries[i].Seq, next)
			}
			next++
		}
		w := &pgx.Batch{}
		if n := len(out.Entries); n > 0 {
			cols := newRecordColumns(n)
			for i := range out.Entries {
				cols.add(&out.Entries[i])
			}
			w.Queue(`INSERT INTO audit_records (`+recordColumns+`) SELECT * FROM unnest(
				$1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
				$8::text[], $9::text[], $10::text[], $11::text[], $12::bytea[])`, cols.args()...)
		}
		if c := out.Checkpoint; c != nil {
			w.Queue(`INSERT INTO audit_checkpoints (seq, time, body, signature) VALUES ($1, $2, $3, $4)`,
				int64(c.Seq), c.Time.UnixNano(), c.Body, c.Signature)
		}
		if w.Len() == 0 {
			return nil
		}
		if err := tx.SendBatch(ctx, w).Close(); err != nil {
			return fmt.Errorf("postgres: append audit records: %w", err)
		}
		return nil
	})
}

// recordColumns holds a batch of records column by column, for unnest.
type recordCols struct {
	seq, t                                                                []int64
	kind, decision, principal, behalf, task, server, tool, effect, status []string
	body                                                                  [][]byte
}

func newRecordColumns(n int) *recordCols {
	return &recordCols{
		seq: make([]int64, 0, n), t: make([]int64, 0, n), kind: make([]string, 0, n), decision: make([]string, 0, n),
		principal: make([]string, 0, n), behalf: make([]string, 0, n), task: make([]string, 0, n),
		server: make([]string, 0, n), tool: make([]string, 0, n), effect: make([]string, 0, n),
		status: make([]string, 0, n), body: make([][]byte, 0, n),
	}
}

func (c *recordCols) add(e *store.AuditEntry) {
	c.seq = append(c.seq, int64(e.Seq))
	c.kind = append(c.kind, e.Kind)
	c.decision = append(c.decision, e.DecisionID)
	c.t = append(c.t, e.Time.UnixNano())
	c.principal = append(c.principal, e.Principal)
	c.behalf = append(c.behalf, e.OnBehalfOf)
	c.task = append(c.task, e.TaskID)
	c.server = append(c.server, e.Server)
	c.tool = append(c.tool, e.Tool)
	c.effect = append(c.effect, e.Effect)
	c.status = append(c.status, e.Status)
	c.body = append(c.body, e.Body)
}

func (c *recordCols) args() []any {
	return []any{c.seq, c.kind, c.decision, c.t, c.principal, c.behalf, c.task, c.server, c.tool, c.effect, c.status, c.body}
}

// params numbers the arguments of a query built piece by piece.
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// ScanAudit implements store.AuditLog.
func (d *DB) ScanAudit(ctx context.Context, f store.AuditFilter, fn func(*store.AuditEntry) error) error {
	var args params
	decision := func() string { // conditions on decision records
		var c []string
		eq := func(col, v string) {
			if v != "" {
				c = append(c, col+" = "+args.add(v))
			}
		}
		eq("principal", f.Principal)
		eq("on_behalf_of", f.OnBehalfOf)
		eq("task_id", f.TaskID)
		eq("server", f.Server)
		eq("tool", f.Tool)
		eq("effect", f.Effect)
		if len(c) == 0 {
			return ""
		}
		return "kind = 'decision' AND " + strings.Join(c, " AND ")
	}
	var where []string // conditions on every record
	if f.AfterSeq > 0 {
		where = append(where, "seq > "+args.add(int64(f.AfterSeq)))
	}
	if f.DecisionID != "" {
		where = append(where, "decision_id = "+args.add(f.DecisionID))
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= "+args.add(f.Since.UnixNano()))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < "+args.add(f.Until.UnixNano()))
	}
	if cond := decision(); cond != "" {
		if f.WithOutcomes {
			// An outcome matches when its decision does.
			where = append(where, "(("+cond+") OR (kind = 'outcome' AND decision_id IN (SELECT decision_id FROM audit_records WHERE "+decision()+")))")
		} else {
			where = append(where, "("+cond+")")
		}
	}
	q := `SELECT ` + recordColumns + ` FROM audit_records`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	switch {
	case f.Last > 0:
		q = `SELECT * FROM (` + q + ` ORDER BY seq DESC LIMIT ` + args.add(f.Last) + `) last ORDER BY seq`
	case f.Limit > 0:
		q += ` ORDER BY seq LIMIT ` + args.add(f.Limit)
	default:
		q += ` ORDER BY seq`
	}
	// No operation timeout: a scan lasts as long as its reader (export,
	// verify) takes; the caller's context bounds it.
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("postgres: query audit records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return fmt.Errorf("postgres: read audit record: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read audit records: %w", err)
	}
	return nil
}

// AuditCheckpoints implements store.AuditLog.
func (d *DB) AuditCheckpoints(ctx context.Context, fn func(*store.AuditCheckpoint) error) error {
	rows, err := d.pool.Query(ctx, `SELECT seq, time, body, signature FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("postgres: query audit checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return fmt.Errorf("postgres: read audit checkpoint: %w", err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read audit checkpoints: %w", err)
	}
	return nil
}

// AuditCursor implements store.AuditLog.
func (d *DB) AuditCursor(ctx context.Context, name string) (uint64, error) {
	ctx, cancel := d.op(ctx)
	defer cancel()
	var seq int64
	err := d.pool.QueryRow(ctx, `SELECT seq FROM audit_cursors WHERE name = $1`, name).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: read audit cursor %q: %w", name, err)
	}
	return uint64(seq), nil
}

// SetAuditCursor implements store.AuditLog.
func (d *DB) SetAuditCursor(ctx context.Context, name string, seq uint64) error {
	ctx, cancel := d.op(ctx)
	defer cancel()
	_, err := d.pool.Exec(ctx, `INSERT INTO audit_cursors (name, seq) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`, name, int64(seq))
	if err != nil {
		return fmt.Errorf("postgres: set audit cursor %q: %w", name, err)
	}
	return nil
}

func scanEntry(s pgx.Row) (*store.AuditEntry, error) {
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

func scanCheckpoint(s pgx.Row) (*store.AuditCheckpoint, error) {
	var c store.AuditCheckpoint
	var seq, t int64
	if err := s.Scan(&seq, &t, &c.Body, &c.Signature); err != nil {
		return nil, err
	}
	c.Seq = uint64(seq)
	c.Time = time.Unix(0, t).UTC()
	return &c, nil
}
