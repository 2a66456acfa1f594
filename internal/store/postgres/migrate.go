package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations are the schema's versions: migrations[i] takes the schema from
// version i to i+1. Never edit one that has shipped; add the next.
var migrations = []string{
	// 1: audit trail, tasks and budgets, approvals, history.
	`
CREATE TABLE audit_records (
	seq          bigint PRIMARY KEY,
	kind         text   NOT NULL,
	decision_id  text   NOT NULL,
	time         bigint NOT NULL, -- Unix nanoseconds
	principal    text   NOT NULL DEFAULT '',
	on_behalf_of text   NOT NULL DEFAULT '',
	task_id      text   NOT NULL DEFAULT '',
	server       text   NOT NULL DEFAULT '',
	tool         text   NOT NULL DEFAULT '',
	effect       text   NOT NULL DEFAULT '',
	status       text   NOT NULL DEFAULT '',
	body         bytea  NOT NULL
);
CREATE INDEX audit_records_decision_id ON audit_records(decision_id);
CREATE INDEX audit_records_time ON audit_records(time);
CREATE INDEX audit_records_principal ON audit_records(principal) WHERE kind = 'decision';
CREATE INDEX audit_records_task_id ON audit_records(task_id) WHERE kind = 'decision';
CREATE TABLE audit_checkpoints (
	seq       bigint PRIMARY KEY, -- the last record the checkpoint covers
	time      bigint NOT NULL,
	body      bytea  NOT NULL,
	signature bytea  NOT NULL
);
CREATE TABLE audit_cursors (
	name text   PRIMARY KEY,
	seq  bigint NOT NULL
);

CREATE TABLE tasks (
	id            text    PRIMARY KEY,
	parent_id     text    NOT NULL DEFAULT '',
	root_id       text    NOT NULL,
	depth         integer NOT NULL,
	agent         text    NOT NULL,
	owner         text    NOT NULL DEFAULT '',
	purpose       text    NOT NULL DEFAULT '',
	scope         bytea   NOT NULL,
	budget        bytea,
	created_by    text    NOT NULL DEFAULT '',
	created_at    bigint  NOT NULL, -- Unix nanoseconds
	expires_at    bigint  NOT NULL,
	revoked_at    bigint,           -- NULL while live
	revoked_by    text    NOT NULL DEFAULT '',
	revoke_reason text    NOT NULL DEFAULT '',
	revoked_via   text    NOT NULL DEFAULT ''
);
CREATE INDEX tasks_parent ON tasks(parent_id);
CREATE INDEX tasks_root ON tasks(root_id);
CREATE INDEX tasks_agent ON tasks(agent);
CREATE TABLE task_budget_spent (
	task_id text   NOT NULL,
	key     text   NOT NULL, -- '' for the total, else "<server>/<tool>"
	spent   bigint NOT NULL,
	PRIMARY KEY (task_id, key)
);

CREATE TABLE approvals (
	id             text    PRIMARY KEY,
	key            text    NOT NULL,
	similar_key    text    NOT NULL,
	principal      text    NOT NULL,
	owner          text    NOT NULL DEFAULT '',
	task_id        text    NOT NULL DEFAULT '',
	tool           text    NOT NULL,
	args_sha256    text    NOT NULL,
	policy_version text    NOT NULL DEFAULT '',
	decision_id    text    NOT NULL DEFAULT '',
	call           bytea   NOT NULL,
	created_at     bigint  NOT NULL, -- Unix nanoseconds
	expires_at     bigint  NOT NULL,
	state          text    NOT NULL,
	decided_at     bigint,
	approver       text    NOT NULL DEFAULT '',
	channel        text    NOT NULL DEFAULT '',
	comment        text    NOT NULL DEFAULT '',
	"similar"      boolean NOT NULL DEFAULT false,
	used_at        bigint,
	used_by        text    NOT NULL DEFAULT ''
);
CREATE INDEX approvals_key ON approvals(key, created_at);
CREATE INDEX approvals_similar ON approvals(similar_key) WHERE "similar";
CREATE INDEX approvals_state ON approvals(state, created_at);

CREATE SEQUENCE history_seq;
CREATE TABLE history_events (
	seq       bigint PRIMARY KEY,
	time      bigint NOT NULL, -- Unix nanoseconds
	key       text   NOT NULL,
	principal text   NOT NULL,
	origin    text   NOT NULL,
	body      bytea  NOT NULL
);
CREATE INDEX history_events_key ON history_events(key, seq);
CREATE INDEX history_events_principal ON history_events(principal, seq);
CREATE INDEX history_events_time ON history_events(time);
`,
	// 2: documents (signing keys, audit keys, tool pins).
	`
CREATE TABLE docs (
	name text  PRIMARY KEY,
	body bytea NOT NULL
);
`,
}

// SchemaVersion is the schema version this toolgate writes.
var SchemaVersion = len(migrations)

// schemaTable records the version; it is created by the first migration
// run, before anything else.
const schemaTable = `CREATE TABLE IF NOT EXISTS toolgate_schema (
	version    integer NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// ErrNewerSchema is returned when the database was migrated by a newer
// toolgate: this one would not know what its writes break.
var ErrNewerSchema = errors.New("postgres: the database schema is newer than this toolgate knows; upgrade toolgate")

// version reads the schema version (0 for an empty database).
func version(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('toolgate_schema') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM toolgate_schema`).Scan(&v)
	return v, err
}

// Migrate applies the migrations the database lacks, in one transaction,
// under a lock so that replicas starting together apply each once. It
// returns the version the database had.
func (d *DB) Migrate(ctx context.Context) (from int, err error) {
	ctx, cancel := d.op(ctx)
	defer cancel()
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, schemaTable); err != nil {
			return err
		}
		v, err := version(ctx, tx)
		if err != nil {
			return err
		}
		from = v
		if v > len(migrations) {
			return fmt.Errorf("%w (the database is at version %d, this toolgate at %d)", ErrNewerSchema, v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO toolgate_schema (version) VALUES ($1)`, i+1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNewerSchema) {
			return from, err
		}
		return from, fmt.Errorf("postgres: migrate %s: %w", d.url, err)
	}
	return from, nil
}

// checkSchema fails unless the schema is exactly the version this toolgate
// writes.
func (d *DB) checkSchema(ctx context.Context) error {
	v, err := version(ctx, d.pool)
	if err != nil {
		return fmt.Errorf("postgres: read the schema version of %s: %w", d.url, err)
	}
	switch {
	case v > len(migrations):
		return fmt.Errorf("%w (the database is at version %d, this toolgate at %d)", ErrNewerSchema, v, len(migrations))
	case v < len(migrations):
		return fmt.Errorf("postgres: the schema of %s is at version %d, this toolgate needs %d: run toolgate store migrate", d.url, v, len(migrations))
	}
	return nil
}
