// Package sqlfacts classifies SQL strings: which kinds of statement they
// hold, which tables they read and write, which functions they call, and
// whether they are destructive. PostgreSQL syntax goes through PostgreSQL's
// own parser (pg_query_go), MySQL syntax through vitess.
package sqlfacts

//go:generate go run ./gencatalog

import (
	"fmt"
	"strings"

	"github.com/toolgate/toolgate/internal/facts"
)

// Name is the key of these facts under context.facts.
const Name = "sql"

func init() {
	facts.Register(Name, facts.Kind{
		New:        func(o facts.Options) (facts.Classifier, error) { return New(o) },
		Merge:      Merge,
		Unanalysed: zero,
	})
}

type kind uint8

const (
	kindSelect kind = 1 << iota
	kindInsert
	kindUpdate
	kindDelete
	kindDDL
	kindDCL
	kindTransaction
	kindOther
)

var kindNames = [...]string{"select", "insert", "update", "delete", "ddl", "dcl", "transaction", "other"}

// Functions whose call changes server state or files even inside a SELECT;
// a query calling them is destructive, since a read-only policy would
// otherwise let "SELECT pg_terminate_backend(pid) FROM pg_stat_activity" through.
var sideEffectFunctions = map[string]bool{
	"pg_terminate_backend": true, "pg_cancel_backend": true, "pg_reload_conf": true,
	"pg_rotate_logfile": true, "pg_promote": true, "pg_switch_wal": true,
	"pg_drop_replication_slot": true, "pg_replication_origin_drop": true,
	"pg_file_write": true, "pg_file_unlink": true, "pg_file_rename": true,
	"lo_unlink": true, "lo_export": true, "lo_import": true, "lo_from_bytea": true, "lo_put": true,
	"dblink_exec": true, "set_config": true, "pg_create_restore_point": true,
	"sys_exec": true, "sys_eval": true,
}

// Functions that run SQL given as text, here or on another server, or
// read the tables a value names (table_to_xml('secrets', …)) or every
// table there is (database_to_xml): what they read or do is only known at
// run time, and no table they read is in tables_read.
var sqlTextFunctions = map[string]bool{
	"ts_stat": true, "ts_rewrite": true, "cursor_to_xml": true, "cursor_to_xmlschema": true,
	"dblink": true, "dblink_exec": true, "dblink_send_query": true, "dblink_open": true,
	"query_to_xml": true, "query_to_xmlschema": true, "query_to_xml_and_xmlschema": true,
	"table_to_xml": true, "table_to_xmlschema": true, "table_to_xml_and_xmlschema": true,
	"schema_to_xml": true, "schema_to_xmlschema": true, "schema_to_xml_and_xmlschema": true,
	"database_to_xml": true, "database_to_xmlschema": true, "database_to_xml_and_xmlschema": true,
}

// Functions that read or write files on the database server.
var fileFunctions = map[string]bool{
	"pg_read_file": true, "pg_read_binary_file": true, "pg_ls_dir": true, "pg_stat_file": true,
	"pg_ls_logdir": true, "pg_ls_waldir": true, "pg_ls_tmpdir": true, "pg_ls_archive_statusdir": true,
	"pg_file_write": true, "pg_file_unlink": true, "pg_file_rename": true, "pg_logdir_ls": true,
	"lo_import": true, "lo_export": true, "load_file": true,
}

type result struct {
	mysql            bool
	count            int64
	kinds            kind
	read, written    []string
	functions        []string
	volatile         []string
	unknownFuncs     []string
	destructive      bool
	dataModifyingCTE bool
	copyProgram      bool
	intoOutfile      bool
	fileAccess       bool
	dynamic          bool
}

// addFunction records a function under its name as written and, when
// qualified, under its bare name too, so that a policy looking for
// pg_read_file also sees pg_catalog.pg_read_file.
func (r *result) addFunction(name string) {
	r.functions = append(r.functions, name)
	bare := name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		bare = name[i+1:]
		r.functions = append(r.functions, bare)
	}
	if sideEffectFunctions[bare] {
		r.destructive = true
	}
	if fileFunctions[bare] {
		r.fileAccess = true
	}
	if sqlTextFunctions[bare] {
		r.dynamic = true
	}
	switch vol, ok := r.builtin(name); {
	case !ok:
		r.unknownFuncs = append(r.unknownFuncs, name)
	case vol == 'v':
		r.volatile = append(r.volatile, name)
		// MySQL's list holds only harmless volatile functions.
		if !r.mysql && !harmlessVolatile[bare] {
			r.destructive = true
		}
	}
}

func (r *result) facts() facts.Facts {
	kinds := make([]string, 0, 2)
	for i, n := range kindNames {
		if r.kinds&(1<<i) != 0 {
			kinds = append(kinds, n)
		}
	}
	return facts.Facts{
		"count":              r.count,
		"kinds":              facts.SortedSet(kinds),
		"destructive":        r.destructive,
		"tables_read":        facts.SortedSet(r.read),
		"tables_written":     facts.SortedSet(r.written),
		"functions":          facts.SortedSet(r.functions),
		"volatile_functions": facts.SortedSet(r.volatile),
		"unknown_functions":  facts.SortedSet(r.unknownFuncs),
		"data_modifying_cte": r.dataModifyingCTE,
		"copy_program":       r.copyProgram,
		"into_outfile":       r.intoOutfile,
		"file_access":        r.fileAccess,
		"dynamic":            r.dynamic,
		"parse_error":        false,
	}
}

// zero is the answer for SQL that was not analysed: unknown SQL may do
// anything, so it is destructive.
func zero() facts.Facts {
	f := (&result{}).facts()
	f["destructive"] = true
	return f
}

// Classifier is the SQL classifier for one dialect.
type Classifier struct {
	opts  facts.Options
	mysql bool
}

// New builds a classifier; opts.Dialect is "postgres" (default) or "mysql".
func New(opts facts.Options) (*Classifier, error) {
	c := &Classifier{opts: opts.WithDefaults()}
	switch strings.ToLower(opts.Dialect) {
	case "", "postgres", "postgresql", "pg":
	case "mysql", "mariadb":
		c.mysql = true
		if _, err := mysqlParser(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("sqlfacts: unknown dialect %q (want postgres or mysql)", opts.Dialect)
	}
	return c, nil
}

// Name implements facts.Classifier.
func (c *Classifier) Name() string { return Name }

// Classify implements facts.Classifier.
func (c *Classifier) Classify(sql string) facts.Facts {
	return facts.Run(c.opts, sql, zero, func(b *facts.Budget) facts.Facts {
		if strings.IndexByte(sql, 0) >= 0 {
			// The C parser would stop at the NUL and judge a prefix of
			// what the server may receive.
			return facts.Fail(zero(), "NUL byte in SQL")
		}
		r := result{mysql: c.mysql}
		var err error
		if c.mysql {
			err = classifyMySQL(sql, &r, b)
		} else {
			err = classifyPostgres(sql, &r, b)
		}
		if err != nil {
			return facts.Fail(zero(), err.Error())
		}
		return r.facts()
	})
}

var mergeRules = facts.Rules{
	"count": facts.Sum, "kinds": facts.Union, "destructive": facts.Any,
	"tables_read": facts.Union, "tables_written": facts.Union, "functions": facts.Union,
	"volatile_functions": facts.Union, "unknown_functions": facts.Union,
	"data_modifying_cte": facts.Any, "copy_program": facts.Any, "into_outfile": facts.Any,
	"file_access": facts.Any, "dynamic": facts.Any, "parse_error": facts.Any,
}

// Merge combines the facts of several SQL arguments of one call.
func Merge(fs []facts.Facts) facts.Facts {
	return facts.MergeWith(mergeRules, func() facts.Facts { return (&result{}).facts() }, fs)
}
