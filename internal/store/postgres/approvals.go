package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toolgate/toolgate/internal/store"
)

// Approvals: every change of state is an UPDATE guarded by the state it
// expects. Under READ COMMITTED, a second UPDATE of the same row waits for
// the first to commit and then re-checks its WHERE on the new row, so two
// replicas racing on one approval cannot both decide it or both use it.

var _ store.Approvals = (*DB)(nil)

const approvalColumns = `id, key, similar_key, principal, owner, task_id, tool, args_sha256, policy_version,
	decision_id, call, created_at, expires_at, state, decided_at, approver, channel, comment, "similar", used_at, used_by`

// CreateApproval implements store.Approvals. The transaction first takes
// the advisory lock of the principal (every approval of a key has the
// key's principal), so the checks and the insert are atomic across
// replicas.
func (d *DB) CreateApproval(ctx context.Context, a *store.Approval, maxPending int) error {
	err := d.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int4, hashtext($2))`, lockApprovals, a.Principal); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM approvals
			WHERE key = $1 AND state IN ('pending', 'approved', 'denied') AND used_at IS NULL AND expires_at > $2`,
			a.Key, a.CreatedAt.UnixNano()).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return store.ErrApprovalOpen
		}
		if maxPending > 0 {
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM approvals
				WHERE principal = $1 AND state = 'pending' AND expires_at > $2`,
				a.Principal, a.CreatedAt.UnixNano()).Scan(&n); err != nil {
				return err
			}
			if n >= maxPending {
				return store.ErrTooManyPending
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO approvals (`+approvalColumns+`)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)`,
			a.ID, a.Key, a.SimilarKey, a.Principal, a.Owner, a.TaskID, a.Tool, a.ArgsSHA256, a.PolicyVersion,
			a.DecisionID, a.Call, a.CreatedAt.UnixNano(), a.ExpiresAt.UnixNano(), a.State, nullTime(a.DecidedAt),
			a.Approver, a.Channel, a.Comment, a.Similar, nullTime(a.UsedAt), a.UsedBy)
		return err
	})
	switch {
	case errors.Is(err, store.ErrApprovalOpen), errors.Is(err, store.ErrTooManyPending):
		return err
	case err != nil:
		return fmt.Errorf("postgres: create approval %s: %w", a.ID, err)
	}
	return nil
}

// Approval implements store.Approvals.
func (d *DB) Approval(ctx context.Context, id string) (*store.Approval, error) {
	return d.firstApproval(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = $1`, id)
}

// Approvals implements store.Approvals.
func (d *DB) Approvals(ctx context.Context, f store.ApprovalFilter) ([]*store.Approval, error) {
	var where []string
	var args params
	for _, c := range []struct{ col, v string }{{"state", f.State}, {"principal", f.Principal}, {"task_id", f.TaskID}} {
		if c.v != "" {
			where = append(where, c.col+" = "+args.add(c.v))
		}
	}
	q := `SELECT ` + approvalColumns + ` FROM approvals`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + args.add(f.Limit)
	}
	ctx, cancel := d.op(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list approvals: %w", err)
	}
	defer rows.Close()
	var out []*store.Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list approvals: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// OpenApproval implements store.Approvals.
func (d *DB) OpenApproval(ctx context.Context, key string, now time.Time) (*store.Approval, error) {
	return d.firstApproval(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE key = $1 AND state IN ('pending', 'approved', 'denied') AND used_at IS NULL AND expires_at > $2
		ORDER BY created_at DESC, id DESC LIMIT 1`, key, now.UnixNano())
}

// SimilarGrant implements store.Approvals.
func (d *DB) SimilarGrant(ctx context.Context, similarKey string, now time.Time) (*store.Approval, error) {
	return d.firstApproval(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE similar_key = $1 AND "similar" AND state = 'approved' AND expires_at > $2
		ORDER BY decided_at DESC LIMIT 1`, similarKey, now.UnixNano())
}

func (d *DB) firstApproval(ctx context.Context, q string, args ...any) (*store.Approval, error) {
	ctx, cancel := d.op(ctx)
	defer cancel()
	a, err := scanApproval(d.pool.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: find approval: %w", err)
	}
	return a, nil
}

// DecideApproval implements store.Approvals.
func (d *DB) DecideApproval(ctx context.Context, id string, dec store.ApprovalDecision) error {
	if dec.State != store.ApprovalApproved && dec.State != store.ApprovalDenied {
		return fmt.Errorf("postgres: decide approval %s: %q is not a decision", id, dec.State)
	}
	n, err := d.update(ctx, `UPDATE approvals SET state = $1, decided_at = $2, approver = $3, channel = $4,
		comment = $5, "similar" = $6, expires_at = $7 WHERE id = $8 AND state = 'pending' AND expires_at > $2`,
		dec.State, dec.At.UnixNano(), dec.Approver, dec.Channel, dec.Comment, dec.Similar, dec.ExpiresAt.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("postgres: decide approval %s: %w", id, err)
	}
	if n == 1 {
		d.notify(ctx, ChannelApprovals, id)
		return nil
	}
	if _, err := d.Approval(ctx, id); err != nil {
		return err
	}
	return store.ErrNotPending
}

// UseApproval implements store.Approvals.
func (d *DB) UseApproval(ctx context.Context, id, decisionID string, at time.Time) (bool, error) {
	n, err := d.update(ctx, `UPDATE approvals SET used_at = COALESCE(used_at, $1),
		used_by = CASE WHEN used_by = '' THEN $2 ELSE used_by END
		WHERE id = $3 AND state IN ('approved', 'denied') AND expires_at > $1 AND (used_at IS NULL OR "similar")`,
		at.UnixNano(), decisionID, id)
	if err != nil {
		return false, fmt.Errorf("postgres: use approval %s: %w", id, err)
	}
	return n == 1, nil
}

// CloseApproval implements store.Approvals.
func (d *DB) CloseApproval(ctx context.Context, id, state string, at time.Time) (bool, error) {
	if state != store.ApprovalExpired && state != store.ApprovalCancelled {
		return false, fmt.Errorf("postgres: close approval %s: %q is not a closing state", id, state)
	}
	n, err := d.update(ctx, `UPDATE approvals SET state = $1, decided_at = $2 WHERE id = $3 AND state = 'pending'`,
		state, at.UnixNano(), id)
	if err != nil {
		return false, fmt.Errorf("postgres: close approval %s: %w", id, err)
	}
	if n == 1 {
		d.notify(ctx, ChannelApprovals, id)
	}
	return n == 1, nil
}

// update runs one guarded UPDATE and returns how many rows it changed.
func (d *DB) update(ctx context.Context, q string, args ...any) (int64, error) {
	ctx, cancel := d.op(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func scanApproval(row pgx.Row) (*store.Approval, error) {
	var a store.Approval
	var created, expires int64
	var decided, used *int64
	if err := row.Scan(&a.ID, &a.Key, &a.SimilarKey, &a.Principal, &a.Owner, &a.TaskID, &a.Tool, &a.ArgsSHA256,
		&a.PolicyVersion, &a.DecisionID, &a.Call, &created, &expires, &a.State, &decided, &a.Approver, &a.Channel,
		&a.Comment, &a.Similar, &used, &a.UsedBy); err != nil {
		return nil, err
	}
	a.CreatedAt, a.ExpiresAt = time.Unix(0, created), time.Unix(0, expires)
	a.DecidedAt, a.UsedAt = fromNull(decided), fromNull(used)
	return &a, nil
}
