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

// Tasks and their revocations: one row per task or delegation hop, linked to
// its parent; revocation is a state of the row, set on the task and all its
// descendants in one statement. Budgets: one row per task and key with what
// has been spent.
const taskSchema = `
CREATE TABLE IF NOT EXISTS tasks (
	id            TEXT    PRIMARY KEY,
	parent_id     TEXT    NOT NULL DEFAULT '',
	root_id       TEXT    NOT NULL,
	depth         INTEGER NOT NULL,
	agent         TEXT    NOT NULL,
	owner         TEXT    NOT NULL DEFAULT '',
	purpose       TEXT    NOT NULL DEFAULT '',
	scope         BLOB    NOT NULL,
	budget        BLOB,
	created_by    TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL, -- Unix nanoseconds
	expires_at    INTEGER NOT NULL,
	revoked_at    INTEGER,          -- NULL while live
	revoked_by    TEXT    NOT NULL DEFAULT '',
	revoke_reason TEXT    NOT NULL DEFAULT '',
	revoked_via   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tasks_parent ON tasks(parent_id);
CREATE INDEX IF NOT EXISTS tasks_root ON tasks(root_id);
CREATE INDEX IF NOT EXISTS tasks_agent ON tasks(agent);
CREATE TABLE IF NOT EXISTS task_budget_spent (
	task_id TEXT    NOT NULL,
	key     TEXT    NOT NULL, -- '' for the total, else "<server>/<tool>"
	spent   INTEGER NOT NULL,
	PRIMARY KEY (task_id, key)
) WITHOUT ROWID;
`

func init() { schemas = append(schemas, taskSchema) }

var (
	_ store.Tasks   = (*DB)(nil)
	_ store.Budgets = (*DB)(nil)
)

const taskColumns = `id, parent_id, root_id, depth, agent, owner, purpose, scope, budget, created_by,
	created_at, expires_at, revoked_at, revoked_by, revoke_reason, revoked_via`

// CreateTask implements store.Tasks.
func (d *DB) CreateTask(ctx context.Context, t *store.Task) error {
	_, err := d.exec(ctx, `INSERT INTO tasks (`+taskColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		t.ID, t.ParentID, t.RootID, t.Depth, t.Agent, t.Owner, t.Purpose, t.Scope, t.Budget, t.CreatedBy,
		t.CreatedAt.UnixNano(), t.ExpiresAt.UnixNano(), nullTime(t.RevokedAt), t.RevokedBy, t.RevokeReason, t.RevokedVia)
	if err != nil {
		return fmt.Errorf("sqlite: create task %s: %w", t.ID, err)
	}
	return nil
}

// Task implements store.Tasks.
func (d *DB) Task(ctx context.Context, id string) (*store.Task, error) {
	t, err := scanTask(d.db.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: task %s: %w", id, err)
	}
	return t, nil
}

// Tasks implements store.Tasks.
func (d *DB) Tasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error) {
	var where []string
	var args []any
	if f.RootID != "" {
		where = append(where, "root_id = ?")
		args = append(args, f.RootID)
	}
	if f.Agent != "" {
		where = append(where, "agent = ?")
		args = append(args, f.Agent)
	}
	if f.Owner != "" {
		where = append(where, "owner = ?")
		args = append(args, f.Owner)
	}
	if f.Live {
		where = append(where, "revoked_at IS NULL AND expires_at > ?")
		args = append(args, f.Now.UnixNano())
	}
	q := `SELECT ` + taskColumns + ` FROM tasks`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, depth, id"
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tasks: %w", err)
	}
	defer rows.Close()
	var out []*store.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list tasks: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TaskStates implements store.Tasks.
func (d *DB) TaskStates(ctx context.Context, ids []string) (map[string]store.TaskState, error) {
	if len(ids) == 0 {
		return map[string]store.TaskState{}, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, revoked_at, revoke_reason FROM tasks WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: task states: %w", err)
	}
	defer rows.Close()
	out := make(map[string]store.TaskState, len(ids))
	for rows.Next() {
		var id, reason string
		var revoked sql.NullInt64
		if err := rows.Scan(&id, &revoked, &reason); err != nil {
			return nil, fmt.Errorf("sqlite: task states: %w", err)
		}
		st := store.TaskState{RevokeReason: reason}
		if revoked.Valid {
			st.Revoked = true
			st.RevokedAt = time.Unix(0, revoked.Int64).UTC()
		}
		out[id] = st
	}
	return out, rows.Err()
}

// RevokeTask implements store.Tasks.
func (d *DB) RevokeTask(ctx context.Context, id, by, reason string, at time.Time) ([]string, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM tasks WHERE id = ?`, id).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: revoke task %s: %w", id, err)
	}
	if n == 0 {
		return nil, store.ErrNotFound
	}
	return d.revoke(ctx, `SELECT id FROM tasks WHERE id = ?`, id, by, reason, id, at)
}

// RevokeAgentTasks implements store.Tasks.
func (d *DB) RevokeAgentTasks(ctx context.Context, agent, by, reason string, at time.Time) ([]string, error) {
	return d.revoke(ctx, `SELECT id FROM tasks WHERE agent = ?`, agent, by, reason, "agent:"+agent, at)
}

// revoke revokes the tasks that seed selects and all their descendants, in
// one statement (so one transaction): no call can see the middle of it.
func (d *DB) revoke(ctx context.Context, seed, arg, by, reason, via string, at time.Time) ([]string, error) {
	tx, done, err := d.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	rows, err := tx.QueryContext(ctx, `
WITH RECURSIVE below(id) AS (`+seed+`
	UNION SELECT t.id FROM tasks t JOIN below ON t.parent_id = below.id)
UPDATE tasks SET revoked_at = ?, revoked_by = ?, revoke_reason = ?, revoked_via = ?
WHERE id IN (SELECT id FROM below) AND revoked_at IS NULL
RETURNING id`, arg, at.UnixNano(), by, reason, via)
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoke: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: revoke: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revoke: %w", err)
	}
	rows.Close()
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: commit revocation: %w", err)
	}
	return ids, nil
}

// SpendBudget implements store.Budgets. The transaction takes SQLite's write
// lock at BEGIN (Open sets _txlock=immediate), so reading what was spent and
// adding to it cannot interleave with another spend, in any process.
func (d *DB) SpendBudget(ctx context.Context, charges []store.BudgetCharge) error {
	if len(charges) == 0 {
		return nil
	}
	tx, done, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer done()
	for _, c := range charges {
		var spent int64
		err := tx.QueryRowContext(ctx, `SELECT spent FROM task_budget_spent WHERE task_id = ? AND key = ?`, c.TaskID, c.Key).Scan(&spent)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: read budget: %w", err)
		}
		if spent >= c.Limit {
			return &store.BudgetExhaustedError{Charge: c, Spent: spent}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO task_budget_spent (task_id, key, spent) VALUES (?, ?, 1)
			ON CONFLICT (task_id, key) DO UPDATE SET spent = spent + 1`, c.TaskID, c.Key); err != nil {
			return fmt.Errorf("sqlite: spend budget: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit budget: %w", err)
	}
	return nil
}

// RefundBudget implements store.Budgets.
func (d *DB) RefundBudget(ctx context.Context, charges []store.BudgetCharge) error {
	if len(charges) == 0 {
		return nil
	}
	tx, done, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer done()
	for _, c := range charges {
		if _, err := tx.ExecContext(ctx, `UPDATE task_budget_spent SET spent = spent - 1 WHERE task_id = ? AND key = ? AND spent > 0`, c.TaskID, c.Key); err != nil {
			return fmt.Errorf("sqlite: refund budget: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit budget refund: %w", err)
	}
	return nil
}

// BudgetSpent implements store.Budgets.
func (d *DB) BudgetSpent(ctx context.Context, taskID string) (map[string]int64, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT key, spent FROM task_budget_spent WHERE task_id = ?`, taskID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: budget of %s: %w", taskID, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("sqlite: budget of %s: %w", taskID, err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

func scanTask(r interface{ Scan(...any) error }) (*store.Task, error) {
	var t store.Task
	var created, expires int64
	var revoked sql.NullInt64
	if err := r.Scan(&t.ID, &t.ParentID, &t.RootID, &t.Depth, &t.Agent, &t.Owner, &t.Purpose, &t.Scope, &t.Budget,
		&t.CreatedBy, &created, &expires, &revoked, &t.RevokedBy, &t.RevokeReason, &t.RevokedVia); err != nil {
		return nil, err
	}
	t.CreatedAt = time.Unix(0, created).UTC()
	t.ExpiresAt = time.Unix(0, expires).UTC()
	if revoked.Valid {
		t.RevokedAt = time.Unix(0, revoked.Int64).UTC()
	}
	return &t, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}
