package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toolgate/toolgate/internal/store"
)

var (
	_ store.Tasks   = (*DB)(nil)
	_ store.Budgets = (*DB)(nil)
)

const taskColumns = `id, parent_id, root_id, depth, agent, owner, purpose, scope, budget, created_by,
	created_at, expires_at, revoked_at, revoked_by, revoke_reason, revoked_via`

// CreateTask implements store.Tasks.
func (d *DB) CreateTask(ctx context.Context, t *store.Task) error {
	ctx, cancel := d.op(ctx)
	defer cancel()
	_, err := d.pool.Exec(ctx, `INSERT INTO tasks (`+taskColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)`,
		t.ID, t.ParentID, t.RootID, t.Depth, t.Agent, t.Owner, t.Purpose, t.Scope, t.Budget, t.CreatedBy,
		t.CreatedAt.UnixNano(), t.ExpiresAt.UnixNano(), nullTime(t.RevokedAt), t.RevokedBy, t.RevokeReason, t.RevokedVia)
	if err != nil {
		return fmt.Errorf("postgres: create task %s: %w", t.ID, err)
	}
	return nil
}

// Task implements store.Tasks.
func (d *DB) Task(ctx context.Context, id string) (*store.Task, error) {
	ctx, cancel := d.op(ctx)
	defer cancel()
	t, err := scanTask(d.pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: task %s: %w", id, err)
	}
	return t, nil
}

// Tasks implements store.Tasks.
func (d *DB) Tasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error) {
	var where []string
	var args params
	if f.RootID != "" {
		where = append(where, "root_id = "+args.add(f.RootID))
	}
	if f.Agent != "" {
		where = append(where, "agent = "+args.add(f.Agent))
	}
	if f.Owner != "" {
		where = append(where, "owner = "+args.add(f.Owner))
	}
	if f.Live {
		where = append(where, "revoked_at IS NULL AND expires_at > "+args.add(f.Now.UnixNano()))
	}
	q := `SELECT ` + taskColumns + ` FROM tasks`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, depth, id"
	ctx, cancel := d.op(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tasks: %w", err)
	}
	defer rows.Close()
	var out []*store.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list tasks: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TaskStates implements store.Tasks. Every replica reads the revocation
// from the database on every call: a revocation committed anywhere is
// enforced by the next call everywhere, and a replica that cannot read it
// fails the call.
func (d *DB) TaskStates(ctx context.Context, ids []string) (map[string]store.TaskState, error) {
	if len(ids) == 0 {
		return map[string]store.TaskState{}, nil
	}
	ctx, cancel := d.op(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT id, revoked_at, revoke_reason FROM tasks WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: task states: %w", err)
	}
	defer rows.Close()
	out := make(map[string]store.TaskState, len(ids))
	for rows.Next() {
		var id, reason string
		var revoked *int64
		if err := rows.Scan(&id, &revoked, &reason); err != nil {
			return nil, fmt.Errorf("postgres: task states: %w", err)
		}
		st := store.TaskState{RevokeReason: reason}
		if revoked != nil {
			st.Revoked = true
			st.RevokedAt = time.Unix(0, *revoked).UTC()
		}
		out[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: task states: %w", err)
	}
	return out, nil
}

// RevokeTask implements store.Tasks.
func (d *DB) RevokeTask(ctx context.Context, id, by, reason string, at time.Time) ([]string, error) {
	var ids []string
	err := d.tx(ctx, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		var err error
		ids, err = revoke(ctx, tx, `SELECT id FROM tasks WHERE id = $1`, id, by, reason, id, at)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke task %s: %w", id, err)
	}
	return ids, nil
}

// RevokeAgentTasks implements store.Tasks.
func (d *DB) RevokeAgentTasks(ctx context.Context, agent, by, reason string, at time.Time) ([]string, error) {
	var ids []string
	err := d.tx(ctx, func(tx pgx.Tx) error {
		var err error
		ids, err = revoke(ctx, tx, `SELECT id FROM tasks WHERE agent = $1`, agent, by, reason, "agent:"+agent, at)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke the tasks of agent %s: %w", agent, err)
	}
	return ids, nil
}

// revoke revokes the tasks that seed selects and all their descendants, in
// one statement: no call can see the middle of it.
func revoke(ctx context.Context, tx pgx.Tx, seed, arg, by, reason, via string, at time.Time) ([]string, error) {
	rows, err := tx.Query(ctx, `
WITH RECURSIVE below(id) AS (`+seed+`
	UNION SELECT t.id FROM tasks t JOIN below ON t.parent_id = below.id)
UPDATE tasks SET revoked_at = $2, revoked_by = $3, revoke_reason = $4, revoked_via = $5
WHERE id IN (SELECT id FROM below) AND revoked_at IS NULL
RETURNING id`, arg, at.UnixNano(), by, reason, via)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// SpendBudget implements store.Budgets. The rows of the charges are locked
// (FOR UPDATE) in one order whatever the order of the charges, so two
// spends on the same budgets wait for each other instead of deadlocking;
// what a spend reads it has locked, so no replica can spend the same unit.
func (d *DB) SpendBudget(ctx context.Context, charges []store.BudgetCharge) error {
	if len(charges) == 0 {
		return nil
	}
	type key struct{ task, key string }
	keys := make([]key, len(charges))
	for i, c := range charges {
		keys[i] = key{c.TaskID, c.Key}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.task, b.task); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	keys = slices.Compact(keys)
	tasks, names := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		tasks[i], names[i] = k.task, k.key
	}
	err := d.tx(ctx, func(tx pgx.Tx) error {
		// Rows that do not exist yet are made (at 0) so they can be locked.
		if _, err := tx.Exec(ctx, `INSERT INTO task_budget_spent (task_id, key, spent)
			SELECT t, k, 0 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS c(t, k, n) ORDER BY n
			ON CONFLICT DO NOTHING`, tasks, names); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT task_id, key, spent FROM task_budget_spent
			WHERE (task_id, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
			ORDER BY task_id, key FOR UPDATE`, tasks, names)
		if err != nil {
			return err
		}
		spent := map[key]int64{}
		var k key
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&k.task, &k.key, &n}, func() error {
			spent[k] = n
			return nil
		})
		if err != nil {
			return err
		}
		// Each charge in its order: the error names the first used up.
		add := map[key]int64{}
		for _, c := range charges {
			k := key{c.TaskID, c.Key}
			if s := spent[k] + add[k]; s >= c.Limit {
				return &store.BudgetExhaustedError{Charge: c, Spent: s}
			}
			add[k]++
		}
		incs := make([]int64, len(keys))
		for i, k := range keys {
			incs[i] = add[k]
		}
		_, err = tx.Exec(ctx, `UPDATE task_budget_spent s SET spent = s.spent + c.n
			FROM unnest($1::text[], $2::text[], $3::bigint[]) AS c(t, k, n) WHERE s.task_id = c.t AND s.key = c.k`, tasks, names, incs)
		return err
	})
	var ex *store.BudgetExhaustedError
	if err != nil && !errors.As(err, &ex) {
		return fmt.Errorf("postgres: spend budget: %w", err)
	}
	return err
}

// RefundBudget implements store.Budgets.
func (d *DB) RefundBudget(ctx context.Context, charges []store.BudgetCharge) error {
	if len(charges) == 0 {
		return nil
	}
	n := map[[2]string]int64{}
	for _, c := range charges {
		n[[2]string{c.TaskID, c.Key}]++
	}
	// Rows are locked in the order SpendBudget locks them, so that a
	// refund and a spend never wait for each other in a cycle.
	keys := slices.SortedFunc(maps.Keys(n), func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	tasks, names, decs := make([]string, len(keys)), make([]string, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		tasks[i], names[i], decs[i] = k[0], k[1], n[k]
	}
	err := d.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM task_budget_spent
			WHERE (task_id, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
			ORDER BY task_id, key FOR UPDATE`, tasks, names); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE task_budget_spent s SET spent = GREATEST(s.spent - c.n, 0)
			FROM unnest($1::text[], $2::text[], $3::bigint[]) AS c(t, k, n) WHERE s.task_id = c.t AND s.key = c.k`, tasks, names, decs)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: refund budget: %w", err)
	}
	return nil
}

// BudgetSpent implements store.Budgets.
func (d *DB) BudgetSpent(ctx context.Context, taskID string) (map[string]int64, error) {
	ctx, cancel := d.op(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT key, spent FROM task_budget_spent WHERE task_id = $1 AND spent > 0`, taskID)
	if err != nil {
		return nil, fmt.Errorf("postgres: budget of %s: %w", taskID, err)
	}
	out := map[string]int64{}
	var k string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&k, &n}, func() error {
		out[k] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: budget of %s: %w", taskID, err)
	}
	return out, nil
}

func scanTask(r pgx.Row) (*store.Task, error) {
	var t store.Task
	var created, expires int64
	var revoked *int64
	if err := r.Scan(&t.ID, &t.ParentID, &t.RootID, &t.Depth, &t.Agent, &t.Owner, &t.Purpose, &t.Scope, &t.Budget,
		&t.CreatedBy, &created, &expires, &revoked, &t.RevokedBy, &t.RevokeReason, &t.RevokedVia); err != nil {
		return nil, err
	}
	t.CreatedAt = time.Unix(0, created).UTC()
	t.ExpiresAt = time.Unix(0, expires).UTC()
	if revoked != nil {
		t.RevokedAt = time.Unix(0, *revoked).UTC()
	}
	return &t, nil
}
