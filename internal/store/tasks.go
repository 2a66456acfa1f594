package store

import (
	"context"
	"fmt"
	"time"
)

// Task is one task as stored: a root task, or one delegation hop below its
// parent. Scope and Budget are kept byte for byte in the task package's
// format; the store never reads them.
type Task struct {
	ID       string
	ParentID string // "" for a root task
	RootID   string // the root task's id (its own id for a root task)
	Depth    int    // 0 for a root task, parent's depth + 1 for a hop

	Agent   string // the agent the task was given to
	Owner   string // the human it acts for ("" if unknown)
	Purpose string

	Scope  []byte
	Budget []byte

	CreatedBy string // principal that created or delegated it ("Agent::\"x\"", "local operator")
	CreatedAt time.Time
	ExpiresAt time.Time

	// Revocation: zero RevokedAt while the task is live. RevokedVia is the
	// task or agent whose revocation revoked this one (its own id when it
	// was revoked by name, an ancestor's id when it went with it).
	RevokedAt    time.Time
	RevokedBy    string
	RevokeReason string
	RevokedVia   string
}

// Revoked reports whether the task is revoked.
func (t *Task) Revoked() bool { return !t.RevokedAt.IsZero() }

// TaskFilter selects tasks. Zero fields do not filter.
type TaskFilter struct {
	RootID string
	Agent  string // tasks given to this agent
	Owner  string
	// Live leaves out revoked and expired tasks (as of Now).
	Live bool
	Now  time.Time
}

// TaskState is what a call needs to know about a task on its chain.
type TaskState struct {
	Revoked      bool
	RevokedAt    time.Time
	RevokeReason string
}

// Tasks stores tasks and their revocations.
type Tasks interface {
	// CreateTask stores a new task; its id must be new.
	CreateTask(ctx context.Context, t *Task) error
	// Task returns one task, or ErrNotFound.
	Task(ctx context.Context, id string) (*Task, error)
	// Tasks lists the tasks matching f, roots before their descendants
	// (ordered by creation).
	Tasks(ctx context.Context, f TaskFilter) ([]*Task, error)
	// TaskStates returns the state of each of ids that exists; an id
	// missing from the result is unknown to the store. It is on every
	// call's path: one query for the whole chain.
	TaskStates(ctx context.Context, ids []string) (map[string]TaskState, error)
	// RevokeTask revokes a task and every task below it, in one
	// transaction, and returns the ids it revoked now (tasks revoked before
	// keep their first revocation). ErrNotFound if the task does not exist.
	RevokeTask(ctx context.Context, id, by, reason string, at time.Time) ([]string, error)
	// RevokeAgentTasks revokes every task given to the agent and every task
	// below them, and returns the ids it revoked now.
	RevokeAgentTasks(ctx context.Context, agent, by, reason string, at time.Time) ([]string, error)
}

// BudgetCharge is one unit to spend: from a task's total budget (Key "") or
// from its budget for one tool (Key "<server>/<tool>"), never beyond Limit.
type BudgetCharge struct {
	TaskID string
	Key    string
	Limit  int64
}

// BudgetExhaustedError says which budget had no unit left.
type BudgetExhaustedError struct {
	Charge BudgetCharge
	Spent  int64
}

func (e *BudgetExhaustedError) Error() string {
	what := "total budget"
	if e.Charge.Key != "" {
		what = "budget for " + e.Charge.Key
	}
	return fmt.Sprintf("the %s of task %s is used up (%d of %d)", what, e.Charge.TaskID, e.Spent, e.Charge.Limit)
}

// Budgets stores what tasks have spent.
type Budgets interface {
	// SpendBudget spends one unit of every charge, atomically: either each
	// is within its limit and all are spent, or nothing is spent and the
	// error is a *BudgetExhaustedError naming the first that is used up.
	// Concurrent spends (other goroutines, processes, replicas) never
	// overspend.
	SpendBudget(ctx context.Context, charges []BudgetCharge) error
	// RefundBudget gives back one unit of every charge that SpendBudget
	// spent, atomically, for a call that did not run after all (its
	// credential or its decision record failed, or it ended before it was
	// forwarded). A count never goes below zero.
	RefundBudget(ctx context.Context, charges []BudgetCharge) error
	// BudgetSpent returns what a task has spent, by key ("" = total).
	BudgetSpent(ctx context.Context, taskID string) (map[string]int64, error)
}
