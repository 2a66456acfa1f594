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

// Approvals: one row per request for a human's approval. Every change of
// state is an UPDATE guarded by the state it expects, so two processes that
// race on one approval cannot both decide it or both use it.
const approvalSchema = `
CREATE TABLE IF NOT EXISTS approvals (
	id             TEXT    PRIMARY KEY,
	key            TEXT    NOT NULL,
	similar_key    TEXT    NOT NULL,
	principal      TEXT    NOT NULL,
	owner          TEXT    NOT NULL DEFAULT '',
	task_id        TEXT    NOT NULL DEFAULT '',
	tool           TEXT    NOT NULL,
	args_sha256    TEXT    NOT NULL,
	policy_version TEXT    NOT NULL DEFAULT '',
	decision_id    TEXT    NOT NULL DEFAULT '',
	call           BLOB    NOT NULL,
	created_at     INTEGER NOT NULL, -- Unix nanoseconds
	expires_at     INTEGER NOT NULL,
	state          TEXT    NOT NULL,
	decided_at     INTEGER,
	approver       TEXT    NOT NULL DEFAULT '',
	channel        TEXT    NOT NULL DEFAULT '',
	comment        TEXT    NOT NULL DEFAULT '',
	similar        INTEGER NOT NULL DEFAULT 0,
	used_at        INTEGER,
	used_by        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS approvals_key ON approvals(key, created_at);
CREATE INDEX IF NOT EXISTS approvals_similar ON approvals(similar_key) WHERE similar = 1;
CREATE INDEX IF NOT EXISTS approvals_state ON approvals(state, created_at);
CREATE INDEX IF NOT EXISTS approvals_principal ON approvals(principal, state);
`

func init() { schemas = append(schemas, approvalSchema) }

var _ store.Approvals = (*DB)(nil)

const approvalColumns = `id, key, similar_key, principal, owner, task_id, tool, args_sha256, policy_version,
	decision_id, call, created_at, expires_at, state, decided_at, approver, channel, comment, similar, used_at, used_by`

// CreateApproval implements store.Approvals. The write transaction holds
// the database's write lock, so the checks and the insert are atomic.
func (d *DB) CreateApproval(ctx context.Context, a *store.Approval, maxPending int) error {
	tx, done, err := d.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: create approval %s: %w", a.ID, err)
	}
	defer done()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM approvals
		WHERE key = ? AND state IN ('pending', 'approved', 'denied') AND used_at IS NULL AND expires_at > ?`,
		a.Key, a.CreatedAt.UnixNano()).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: create approval %s: %w", a.ID, err)
	}
	if n > 0 {
		return store.ErrApprovalOpen
	}
	if maxPending > 0 {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM approvals
			WHERE principal = ? AND state = 'pending' AND expires_at > ?`,
			a.Principal, a.CreatedAt.UnixNano()).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: create approval %s: %w", a.ID, err)
		}
		if n >= maxPending {
			return store.ErrTooManyPending
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (`+approvalColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		a.ID, a.Key, a.SimilarKey, a.Principal, a.Owner, a.TaskID, a.Tool, a.ArgsSHA256, a.PolicyVersion,
		a.DecisionID, a.Call, a.CreatedAt.UnixNano(), a.ExpiresAt.UnixNano(), a.State, nullTime(a.DecidedAt),
		a.Approver, a.Channel, a.Comment, a.Similar, nullTime(a.UsedAt), a.UsedBy); err != nil {
		return fmt.Errorf("sqlite: create approval %s: %w", a.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create approval %s: %w", a.ID, err)
	}
	return nil
}

// Approval implements store.Approvals.
func (d *DB) Approval(ctx context.Context, id string) (*store.Approval, error) {
	a, err := scanApproval(d.db.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: approval %s: %w", id, err)
	}
	return a, nil
}

// Approvals implements store.Approvals.
func (d *DB) Approvals(ctx context.Context, f store.ApprovalFilter) ([]*store.Approval, error) {
	var where []string
	var args []any
	for col, v := range map[string]string{"state": f.State, "principal": f.Principal, "task_id": f.TaskID} {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	q := `SELECT ` + approvalColumns + ` FROM approvals`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return d.queryApprovals(ctx, q, args...)
}

func (d *DB) queryApprovals(ctx context.Context, q string, args ...any) ([]*store.Approval, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list approvals: %w", err)
	}
	defer rows.Close()
	var out []*store.Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list approvals: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// OpenApproval implements store.Approvals.
func (d *DB) OpenApproval(ctx context.Context, key string, now time.Time) (*store.Approval, error) {
	return d.first(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE key = ? AND state IN ('pending', 'approved', 'denied') AND used_at IS NULL AND expires_at > ?
		ORDER BY created_at DESC, id DESC LIMIT 1`, key, now.UnixNano())
}

// SimilarGrant implements store.Approvals.
func (d *DB) SimilarGrant(ctx context.Context, similarKey string, now time.Time) (*store.Approval, error) {
	return d.first(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE similar_key = ? AND similar = 1 AND state = 'approved' AND expires_at > ?
		ORDER BY decided_at DESC LIMIT 1`, similarKey, now.UnixNano())
}

func (d *DB) first(ctx context.Context, q string, args ...any) (*store.Approval, error) {
	a, err := scanApproval(d.db.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: find approval: %w", err)
	}
	return a, nil
}

// DecideApproval implements store.Approvals.
func (d *DB) DecideApproval(ctx context.Context, id string, dec store.ApprovalDecision) error {
	if dec.State != store.ApprovalApproved && dec.State != store.ApprovalDenied {
		return fmt.Errorf("sqlite: decide approval %s: %q is not a decision", id, dec.State)
	}
	res, err := d.exec(ctx, `UPDATE approvals SET state = ?, decided_at = ?, approver = ?, channel = ?,
		comment = ?, similar = ?, expires_at = ? WHERE id = ? AND state = 'pending' AND expires_at > ?`,
		dec.State, dec.At.UnixNano(), dec.Approver, dec.Channel, dec.Comment, dec.Similar, dec.ExpiresAt.UnixNano(),
		id, dec.At.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: decide approval %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: decide approval %s: %w", id, err)
	} else if n == 1 {
		return nil
	}
	if _, err := d.Approval(ctx, id); err != nil {
		return err
	}
	return store.ErrNotPending
}

// UseApproval implements store.Approvals.
func (d *DB) UseApproval(ctx context.Context, id, decisionID string, at time.Time) (bool, error) {
	res, err := d.exec(ctx, `UPDATE approvals SET used_at = COALESCE(used_at, ?),
		used_by = CASE WHEN used_by = '' THEN ? ELSE used_by END
		WHERE id = ? AND state IN ('approved', 'denied') AND expires_at > ? AND (used_at IS NULL OR similar = 1)`,
		at.UnixNano(), decisionID, id, at.UnixNano())
	if err != nil {
		return false, fmt.Errorf("sqlite: use approval %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: use approval %s: %w", id, err)
	}
	return n == 1, nil
}

// CloseApproval implements store.Approvals.
func (d *DB) CloseApproval(ctx context.Context, id, state string, at time.Time) (bool, error) {
	if state != store.ApprovalExpired && state != store.ApprovalCancelled {
		return false, fmt.Errorf("sqlite: close approval %s: %q is not a closing state", id, state)
	}
	res, err := d.exec(ctx, `UPDATE approvals SET state = ?, decided_at = ? WHERE id = ? AND state = 'pending'`,
		state, at.UnixNano(), id)
	if err != nil {
		return false, fmt.Errorf("sqlite: close approval %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: close approval %s: %w", id, err)
	}
	return n == 1, nil
}

func scanApproval(row interface{ Scan(...any) error }) (*store.Approval, error) {
	var a store.Approval
	var created, expires int64
	var decided, used sql.NullInt64
	if err := row.Scan(&a.ID, &a.Key, &a.SimilarKey, &a.Principal, &a.Owner, &a.TaskID, &a.Tool, &a.ArgsSHA256,
		&a.PolicyVersion, &a.DecisionID, &a.Call, &created, &expires, &a.State, &decided, &a.Approver, &a.Channel,
		&a.Comment, &a.Similar, &used, &a.UsedBy); err != nil {
		return nil, err
	}
	a.CreatedAt, a.ExpiresAt = time.Unix(0, created), time.Unix(0, expires)
	if decided.Valid {
		a.DecidedAt = time.Unix(0, decided.Int64)
	}
	if used.Valid {
		a.UsedAt = time.Unix(0, used.Int64)
	}
	return &a, nil
}
