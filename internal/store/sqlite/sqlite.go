// Package sqlite is the embedded backend of toolgate's state: one SQLite file
// in the data directory (through modernc.org/sqlite, pure Go, no cgo), in WAL
// mode with synchronous=FULL, so a committed transaction is on stable storage
// when Commit returns.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database's name in the data directory.
const FileName = "toolgate.db"

// Options tune Open.
type Options struct {
	// ReadOnly opens an existing database for reading only (verify, query):
	// nothing is created or migrated, and writes fail.
	ReadOnly bool
	// NoSync makes this handle's commits write the WAL without fsyncing it
	// (synchronous=NORMAL): a commit survives the process being killed, not
	// a power loss, until SyncWAL (or a checkpoint, which SQLite syncs)
	// flushes it. The audit trail's durability "os" uses it; every other
	// handle stays synchronous=FULL.
	NoSync bool
}

// DB is an open database. It is safe for concurrent use.
type DB struct {
	db    *sql.DB
	path  string
	write chan struct{} // this process's write lock on the file (see writeLocks)

	// The statements of the hot write paths, prepared once: modernc's
	// driver has no statement cache, and preparing the audit head query,
	// the inserts and the rest anew in every transaction cost about a
	// quarter of a one-record append. database/sql prepares each on a
	// connection the first time a transaction there uses it.
	stmts map[string]*sql.Stmt
}

// hot are the statements Open prepares (see DB.stmts).
var hot []string

// stmt returns the transaction's handle of a prepared hot statement.
func (d *DB) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st := d.stmts[query]; st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, query) // read-only handles prepare nothing
}

// writeLocks holds one lock per database file for this process. SQLite lets
// one writer in at a time and makes the others wait in its busy handler,
// which sleeps in steps of 1 to 100 ms: under load (the audit trail's group
// commit, history, budgets, all on one file, possibly through several DB
// values) that turned sub-millisecond commits into tens of milliseconds of
// waiting. Writers of this process queue here instead and are let in the
// moment the previous one commits; other processes still meet SQLite's
// lock and busy timeout.
var writeLocks sync.Map // absolute path -> chan struct{} (capacity 1)

// lockWrite takes this process's write lock on the file, or gives up when
// ctx ends. Writes go through exec and beginWrite, which take it.
func (d *DB) lockWrite(ctx context.Context) (unlock func(), err error) {
	select {
	case d.write <- struct{}{}:
		return func() { <-d.write }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("sqlite: waiting to write: %w", ctx.Err())
	}
}

// exec runs one writing statement under the process's write lock.
func (d *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	unlock, err := d.lockWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return d.db.ExecContext(ctx, query, args...)
}

// beginWrite starts a write transaction under the process's write lock
// (BEGIN IMMEDIATE: Open sets _txlock). done rolls back what was not
// committed and lets the lock go; defer it.
func (d *DB) beginWrite(ctx context.Context) (tx *sql.Tx, done func(), err error) {
	unlock, err := d.lockWrite(ctx)
	if err != nil {
		return nil, nil, err
	}
	tx, err = d.db.BeginTx(ctx, nil)
	if err != nil {
		unlock()
		return nil, nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	return tx, func() {
		_ = tx.Rollback() // a no-op after Commit
		unlock()
	}, nil
}

// schemas are applied in order at Open; each concern adds its own, written
// so that applying it again changes nothing.
var schemas = []string{auditSchema}

// Open opens (or creates, mode 0600) the database at path.
func Open(path string, opt Options) (*DB, error) {
	if opt.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		// Create the file ourselves so it is private from the start; SQLite
		// gives its -wal and -shm files the same mode.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		f.Close()
	}
	q := url.Values{}
	q.Set("_busy_timeout", "10000") // wait for another process's write, do not fail at once
	q.Set("_journal_mode", "WAL")
	if opt.NoSync {
		q.Set("_synchronous", "NORMAL")
	} else {
		q.Set("_synchronous", "FULL") // fsync the WAL at every commit: committed means durable
	}
	q.Set("_txlock", "immediate") // writers take the write lock at BEGIN: no upgrade deadlocks
	// Statement journals (a multi-row INSERT has one) stay in memory
	// instead of a temporary file: they only matter until the statement ends.
	q.Add("_pragma", "temp_store(MEMORY)")
	if opt.ReadOnly {
		q.Set("_query_only", "1")
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	abs, err := filepath.Abs(path)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	lock, _ := writeLocks.LoadOrStore(abs, make(chan struct{}, 1))
	d := &DB{db: db, path: path, write: lock.(chan struct{})}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if !opt.ReadOnly {
		if err := d.migrate(); err != nil {
			db.Close()
			return nil, err
		}
		d.stmts = map[string]*sql.Stmt{}
		for _, q := range hot {
			st, err := db.Prepare(q)
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("sqlite: prepare %q: %w", q, err)
			}
			d.stmts[q] = st
		}
	}
	return d, nil
}

func (d *DB) migrate() error {
	for _, s := range schemas {
		if _, err := d.db.Exec(s); err != nil {
			return fmt.Errorf("sqlite: create schema in %s: %w", d.path, err)
		}
	}
	return nil
}

// SyncWAL flushes the write-ahead log to stable storage: every commit made
// before it started is durable when it returns. A missing WAL (every
// connection closed, which checkpoints and removes it) has nothing to flush.
// It is how a NoSync handle makes its commits durable.
func (d *DB) SyncWAL() error {
	f, err := os.OpenFile(d.path+"-wal", os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: flush the WAL: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sqlite: flush the WAL: %w", err)
	}
	return nil
}

// Path is the database file.
func (d *DB) Path() string { return d.path }

// SQL exposes the database handle, for tests that must damage a trail on
// purpose and for backends of other concerns in this package's callers.
func (d *DB) SQL() *sql.DB { return d.db }

// Close closes the database.
func (d *DB) Close() error {
	for _, st := range d.stmts {
		st.Close()
	}
	return d.db.Close()
}
