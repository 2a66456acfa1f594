package evasion

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/toolgate/toolgate/internal/facts"
	"github.com/toolgate/toolgate/internal/testutil/pgtest"
)

const sqlFixture = `
CREATE TABLE users (id int PRIMARY KEY, name text, email text);
INSERT INTO users VALUES (1, 'alice', 'a@example.com'), (2, 'bob', NULL), (3, 'carol', 'c@example.com');
CREATE TABLE orders (id int PRIMARY KEY, user_id int, total numeric);
INSERT INTO orders VALUES (1, 1, 5), (2, 1, 15), (3, 2, 20);
CREATE TABLE secrets (k text, v text);
INSERT INTO secrets VALUES ('api', 'x');
CREATE SEQUENCE seq;
SELECT lo_create(1);
CREATE FUNCTION myfunc() RETURNS int LANGUAGE plpgsql AS $$ BEGIN INSERT INTO users VALUES (999, 'f', NULL); RETURN 1; END $$;
CREATE PROCEDURE myproc() LANGUAGE sql AS $$ DELETE FROM users $$;
CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;
CREATE SCHEMA evil;
`

// fingerprint sums up the fixture's state: a case that changed it escaped
// the read-only transaction, and the database is made again.
const fingerprint = `SELECT (SELECT count(*) FROM users) || '/' || (SELECT count(*) FROM orders) || '/' ||
	(SELECT last_value FROM seq) || '/' || (SELECT count(*) FROM pg_proc WHERE proname IN ('myfunc', 'myproc'))`

// TestSQLAgainstPostgres runs every statement of testdata/sql.txt on a
// real PostgreSQL, in a database whose every transaction is read-only, and
// checks: a statement PostgreSQL refuses for writing
// (read_only_sql_transaction) is not allowed by the example pack; no
// attack is allowed; the benign statements run without error and are
// allowed (at most 3 % false denies).
func TestSQLAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	srv := pgtest.StartT(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	exec := func(c *pgx.Conn, sql string) {
		t.Helper()
		if err := c.PgConn().Exec(ctx, sql).Close(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// Statements that write server files write them into the throw-away
	// cluster's directory (PGDATA in the suite), not anywhere on the host.
	var dataDir string
	if err := admin.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		t.Fatal(err)
	}
	exec(admin, "CREATE DATABASE fixture")
	fc, err := pgx.Connect(ctx, srv.URL("fixture"))
	if err != nil {
		t.Fatal(err)
	}
	exec(fc, sqlFixture)
	var want string
	if err := fc.QueryRow(ctx, fingerprint).Scan(&want); err != nil {
		t.Fatal(err)
	}
	fc.Close(ctx)
	fresh := func() {
		exec(admin, "DROP DATABASE IF EXISTS work WITH (FORCE)")
		exec(admin, "CREATE DATABASE work TEMPLATE fixture")
		exec(admin, "ALTER DATABASE work SET default_transaction_read_only = on")
		exec(admin, "ALTER DATABASE work SET statement_timeout = '5s'")
	}
	fresh()

	cl, err := facts.New("sql", facts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newPack(t)
	benign, denied := 0, 0
	for _, c := range readSuite(t, "sql.txt") {
		c.value = strings.ReplaceAll(c.value, "PGDATA", dataDir)
		wrote, failed := runReadOnly(t, srv.URL("work"), c.value)
		if got := fingerprintOf(t, srv.URL("work")); got != want {
			t.Logf("%v changed the database (%s); making it again", c, got)
			fresh()
		}
		f := cl.Classify(c.value)
		allowed, why := p.allows("db/query", map[string]any{"sql": c.value})
		switch {
		case wrote && allowed:
			t.Errorf("%v: PostgreSQL refused it for writing, the pack allows it\nfacts: %v", c, f)
		case c.benign && (wrote || failed != nil):
			t.Errorf("%v: marked benign, but PostgreSQL says %v (writes: %v)", c, failed, wrote)
		case c.benign:
			benign++
			if !allowed {
				denied++
				t.Logf("false deny: %v\n%s\nfacts: %v", c, why, f)
			}
		case allowed:
			t.Errorf("%v: the pack allows an attack (PostgreSQL: %v)\nfacts: %v", c, failed, f)
		}
	}
	falseDenies(t, denied, benign)
}

// runReadOnly runs sql on a new connection and reports whether PostgreSQL
// refused a statement for writing in a read-only transaction, and the
// first error.
func runReadOnly(t *testing.T, url, sql string) (wrote bool, first error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	results, err := c.PgConn().Exec(ctx, sql).ReadAll()
	errs := []error{err}
	for _, r := range results {
		errs = append(errs, r.Err)
	}
	for _, e := range errs {
		var pe *pgconn.PgError
		if errors.As(e, &pe) && (pe.Code == "25006" || strings.Contains(pe.Message, "read-only transaction")) {
			wrote = true
		}
		if e != nil && first == nil {
			first = e
		}
	}
	return wrote, first
}

func fingerprintOf(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var s string
	if err := c.QueryRow(ctx, fingerprint).Scan(&s); err != nil {
		return "error: " + err.Error()
	}
	return s
}
