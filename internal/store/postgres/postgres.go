// Package postgres is the backend of toolgate's state for several replicas:
// every store interface on one PostgreSQL database, through a pgx pool.
// Replicas agree because the database decides: writes that must be ordered
// (the audit trail, history) take a transaction-scoped advisory lock, spends
// and approval answers are guarded updates of one row, and a commit returns
// once PostgreSQL has flushed it (synchronous_commit as configured on the
// server, except that off is turned on).
//
// The schema is versioned (the migrations below, applied in order at Open
// or by `toolgate store migrate`); a database whose schema is newer than
// this toolgate knows is refused.
package postgres

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tune Open.
type Options struct {
	// ReadOnly opens the database for reading only (verify, query): no
	// migration, and the connections refuse writes.
	ReadOnly bool
	// NoMigrate does not apply migrations at Open; Open fails unless the
	// schema is current (an operator runs `toolgate store migrate`).
	NoMigrate bool
	// SkipSchemaCheck opens whatever the schema's version (for Migrate).
	SkipSchemaCheck bool
	// OpTimeout bounds each store operation that has no earlier deadline,
	// so a replica that lost its database fails (closed) instead of
	// hanging; default 10 s.
	OpTimeout time.Duration
}

// DefaultOpTimeout is Options.OpTimeout's default.
const DefaultOpTimeout = 10 * time.Second

// DB is an open database. It is safe for concurrent use.
type DB struct {
	pool    *pgxpool.Pool
	url     string // without the password, for messages
	timeout time.Duration

	subMu sync.Mutex
	subs  map[string][]func(payload string) // channel → subscribers
}

// Advisory lock keys (pg_advisory_xact_lock): one per thing whose writers
// must go one at a time across replicas. The values spell "toolgate" and a
// number, to stay clear of other applications' keys in a shared database.
const (
	lockMigrate int64 = 0x746f6f6c67617400 + iota
	lockAudit
	lockHistory
)

// Classes of the two-key advisory locks (the second key is a hash): a
// document's name, a principal's approvals, the name of work one replica
// at a time does. Each class has its own value, so that the work of one
// name never waits on (or skips for) a principal whose hash is equal.
// Never change one that has shipped: replicas of two versions side by side
// must take the same locks.
const (
	lockDocs      int32 = 0x746f6f6c
	lockApprovals int32 = 0x746f6f6d
	lockWork      int32 = 0x746f6f6e
)

// IsURL reports whether s names a PostgreSQL database (postgres:// or
// postgresql://).
func IsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}

// Redact returns the URL without its password, for messages.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable PostgreSQL URL)"
	}
	return u.Redacted()
}

// Open connects to the database at connURL (a postgres:// URL; pool
// settings such as pool_max_conns may be given in it) and brings its schema
// up to date, unless opt says otherwise.
func Open(ctx context.Context, connURL string, opt Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(connURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", Redact(connURL), err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if opt.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "toolgate"
	}
	// A commit must be on the database's stable storage when it returns:
	// the trail's write-ahead rule counts on it. A server (or database,
	// or role) set to synchronous_commit = off would return first, so each
	// connection turns it on; any other setting (local, remote_write, on,
	// remote_apply) flushes locally and is kept.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		var mode string
		if err := c.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&mode); err != nil {
			return err
		}
		if mode == "off" {
			_, err := c.Exec(ctx, `SET synchronous_commit = on`)
			return err
		}
		return nil
	}
	d := &DB{url: Redact(connURL), timeout: opt.OpTimeout}
	if d.timeout <= 0 {
		d.timeout = DefaultOpTimeout
	}
	ctx, cancel := d.op(ctx)
	defer cancel()
	if d.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", d.url, err)
	}
	if err := d.pool.Ping(ctx); err != nil {
		d.pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", d.url, err)
	}
	switch {
	case opt.SkipSchemaCheck:
	case opt.ReadOnly || opt.NoMigrate:
		err = d.checkSchema(ctx)
	default:
		_, err = d.Migrate(ctx)
	}
	if err != nil {
		d.pool.Close()
		return nil, err
	}
	return d, nil
}

// op bounds one operation (see Options.OpTimeout).
func (d *DB) op(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d.timeout)
}

// URL is the database's URL without its password.
func (d *DB) URL() string { return d.url }

// Pool exposes the connection pool, for tests that must damage the state on
// purpose.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Exclusively implements store.Exclusive: fn runs inside a transaction
// that holds the advisory lock of name, which it only tries to take.
func (d *DB) Exclusively(ctx context.Context, name string, fn func(context.Context) error) (bool, error) {
	ran := false
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1::int4, hashtext($2))`, lockWork, name).Scan(&got); err != nil {
			return err
		}
		if !got {
			return nil
		}
		ran = true
		return fn(ctx)
	})
	return ran, err
}

// Close closes the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// tx runs fn in a transaction and commits it; fn's error, or the commit's,
// rolls it back.
func (d *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	ctx, cancel := d.op(ctx)
	defer cancel()
	return pgx.BeginFunc(ctx, d.pool, fn)
}

func nullTime(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromNull(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n)
}
