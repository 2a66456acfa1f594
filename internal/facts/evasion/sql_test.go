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
	db := newSQLDB(t)
	cl, err := facts.New("sql", facts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newPack(t)
	benign, denied := 0, 0
	for _, c := range readSuite(t, "sql.txt") {
		c.value = strings.ReplaceAll(c.value, "PGDATA", db.dataDir)
		wrote, failed := db.run(t, c.value)
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

// sqlDB is the PostgreSQL of the SQL suites: a fixture database, and a
// copy of it ("work") where every transaction is read-only by default,
// which statements run in.
type sqlDB struct {
	srv     *pgtest.Server
	admin   *pgx.Conn
	want    string // the fixture's fingerprint
	dataDir string // the throw-away cluster's directory
}

func newSQLDB(t testing.TB) *sqlDB {
	t.Helper()
	d := &sqlDB{srv: pgtest.StartT(t)}
	ctx := context.Background()
	var err error
	if d.admin, err = pgx.Connect(ctx, d.srv.URL("postgres")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.admin.Close(ctx) })
	// Statements that write server files write them into the throw-away
	// cluster's directory (PGDATA in the suite), not anywhere on the host.
	if err := d.admin.QueryRow(ctx, "SHOW data_directory").Scan(&d.dataDir); err != nil {
		t.Fatal(err)
	}
	d.exec(t, d.admin, "CREATE DATABASE fixture")
	fc, err := pgx.Connect(ctx, d.srv.URL("fixture"))
	if err != nil {
		t.Fatal(err)
	}
	d.exec(t, fc, sqlFixture)
	if err := fc.QueryRow(ctx, fingerprint).Scan(&d.want); err != nil {
		t.Fatal(err)
	}
	fc.Close(ctx)
	d.fresh(t)
	return d
}

func (d *sqlDB) exec(t testing.TB, c *pgx.Conn, sql string) {
	t.Helper()
	if err := c.PgConn().Exec(context.Background(), sql).Close(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// fresh makes the work database again from the fixture.
func (d *sqlDB) fresh(t testing.TB) {
	t.Helper()
	d.exec(t, d.admin, "DROP DATABASE IF EXISTS work WITH (FORCE)")
	d.exec(t, d.admin, "CREATE DATABASE work TEMPLATE fixture")
	d.exec(t, d.admin, "ALTER DATABASE work SET default_transaction_read_only = on")
	d.exec(t, d.admin, "ALTER DATABASE work SET statement_timeout = '5s'")
}

// run runs sql in the work database and reports whether it wrote:
// PostgreSQL refused a statement for writing, or the database changed
// all the same (a statement that ends the read-only transaction and
// writes in the next); a changed database is made again.
func (d *sqlDB) run(t testing.TB, sql string) (wrote bool, failed error) {
	t.Helper()
	wrote, failed = runReadOnly(t, d.srv.URL("work"), sql)
	if got := fingerprintOf(t, d.srv.URL("work")); got != d.want {
		t.Logf("%q changed the database (%s); making it again", sql, got)
		d.fresh(t)
		wrote = true
	}
	return wrote, failed
}

// FuzzSQLAgainstPostgres runs on PostgreSQL, in a read-only transaction,
// every statement the example pack allows, and checks that PostgreSQL
// neither refuses it for writing nor finds the database changed. Only
// statements the pack allows run (the others cannot break the property),
// so no generated COPY … PROGRAM or server-file call ever runs. Seeds:
// testdata/fuzz/FuzzSQLAgainstPostgres.
func FuzzSQLAgainstPostgres(f *testing.F) {
	if testing.Short() {
		f.Skip("starts PostgreSQL")
	}
	db := newSQLDB(f)
	p := newPack(f)
	f.Fuzz(func(t *testing.T, sql string) {
		if strings.ContainsRune(sql, 0) {
			return
		}
		if allowed, _ := p.allows("db/query", map[string]any{"sql": sql}); !allowed {
			return
		}
		if wrote, failed := db.run(t, sql); wrote {
			t.Errorf("%q: the pack allows it, PostgreSQL says it writes (%v)", sql, failed)
		}
	})
}

// runReadOnly runs sql on a new connection and reports whether PostgreSQL
// refused a statement for writing in a read-only transaction, and the
// first error.
func runReadOnly(t testing.TB, url, sql string) (wrote bool, first error) {
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

func fingerprintOf(t testing.TB, url string) string {
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
