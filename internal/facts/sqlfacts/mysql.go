package sqlfacts

import (
	"errors"
	"strings"
	"sync"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/toolgate/toolgate/internal/facts"
)

var (
	vtOnce   sync.Once
	vtParser *sqlparser.Parser
	vtErr    error
)

func mysqlParser() (*sqlparser.Parser, error) {
	vtOnce.Do(func() { vtParser, vtErr = sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40"}) })
	return vtParser, vtErr
}

// maxPrepareDepth bounds PREPARE s FROM '…' strings parsed inside each other.
const maxPrepareDepth = 3

type mysqlWalker struct {
	p      *sqlparser.Parser
	r      *result
	budget *facts.Budget
}

func classifyMySQL(sql string, r *result, b *facts.Budget) error {
	p, err := mysqlParser()
	if err != nil {
		return err
	}
	w := &mysqlWalker{p: p, r: r, budget: b}
	return w.parse(sql, 0, true)
}

func (w *mysqlWalker) parse(sql string, depth int, top bool) error {
	stmts, err := w.p.ParseMultiple(sql)
	if err != nil {
		return errors.New("mysql: " + err.Error())
	}
	for _, s := range stmts {
		if s == nil {
			continue
		}
		if _, ok := s.(*sqlparser.CommentOnly); ok {
			continue
		}
		if top {
			w.r.count++
		}
		if err := w.stmt(s, depth); err != nil {
			return err
		}
	}
	return nil
}

func tableName(t sqlparser.TableName) string {
	if t.Qualifier.IsEmpty() {
		return strings.ToLower(t.Name.String())
	}
	return strings.ToLower(t.Qualifier.String() + "." + t.Name.String())
}

// writeTables adds every table named in table expressions as written:
// in a multi-table UPDATE or DELETE any joined table may be the target.
func (w *mysqlWalker) writeTables(exprs ...sqlparser.SQLNode) {
	for _, e := range exprs {
		_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
			switch n := n.(type) {
			case sqlparser.TableName:
				if n.NonEmpty() {
					w.r.written = append(w.r.written, tableName(n))
				}
			case *sqlparser.DerivedTable, *sqlparser.Subquery:
				return false, nil
			}
			return true, nil
		}, e)
	}
}

// read walks nodes for the tables they read and the functions they call,
// noting statements nested in them (CTEs, subqueries).
func (w *mysqlWalker) read(depth int, nodes ...sqlparser.SQLNode) error {
	for _, n := range nodes {
		if n == nil {
			continue
		}
		err := sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
			if w.budget.Spend(1) {
				return false, errors.New(facts.ErrSteps)
			}
			switch n := n.(type) {
			case sqlparser.TableName:
				// vitess names the table of a FROM-less SELECT "dual".
				if n.NonEmpty() && (!n.Qualifier.IsEmpty() || !strings.EqualFold(n.Name.String(), "dual")) {
					w.r.read = append(w.r.read, tableName(n))
				}
			case *sqlparser.FuncExpr:
				name := strings.ToLower(n.Name.String())
				if !n.Qualifier.IsEmpty() {
					name = strings.ToLower(n.Qualifier.String()) + "." + name
				}
				w.r.addFunction(name)
			case *sqlparser.Select:
				w.r.kinds |= kindSelect
				w.into(n.Into)
			case *sqlparser.Union:
				w.r.kinds |= kindSelect
				w.into(n.Into)
			case *sqlparser.Insert, *sqlparser.Update, *sqlparser.Delete:
				// A statement nested in an expression (not reachable in
				// MySQL today): classify it on its own and stop here.
				return false, w.stmt(n.(sqlparser.Statement), depth)
			}
			return true, nil
		}, n)
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *mysqlWalker) into(in *sqlparser.SelectInto) {
	if in == nil {
		return
	}
	switch in.Type {
	case sqlparser.IntoOutfile, sqlparser.IntoOutfileS3, sqlparser.IntoDumpfile:
		w.r.intoOutfile, w.r.fileAccess = true, true
	}
}

func (w *mysqlWalker) stmt(s sqlparser.Statement, depth int) error {
	r := w.r
	switch s := s.(type) {
	case *sqlparser.Select, *sqlparser.Union, *sqlparser.ValuesStatement:
		r.kinds |= kindSelect
		return w.read(depth, s)
	case *sqlparser.Insert:
		r.kinds |= kindInsert
		if s.Action == sqlparser.ReplaceAct {
			// REPLACE deletes the rows it conflicts with.
			r.kinds |= kindDelete
		}
		w.writeTables(s.Table)
		return w.read(depth, s.Rows, s.OnDup)
	case *sqlparser.Update:
		r.kinds |= kindUpdate
		if !w.restricted(s.Where) {
			r.destructive = true
		}
		w.writeTables(tableExprs(s.TableExprs)...)
		return w.read(depth, append([]sqlparser.SQLNode{s.With, s.Exprs, s.Where, s.OrderBy, s.Limit}, tableExprs(s.TableExprs)...)...)
	case *sqlparser.Delete:
		r.kinds |= kindDelete
		if !w.restricted(s.Where) {
			r.destructive = true
		}
		if len(s.Targets) > 0 {
			for _, t := range s.Targets {
				r.written = append(r.written, tableName(t))
			}
		} else {
			w.writeTables(tableExprs(s.TableExprs)...)
		}
		return w.read(depth, append([]sqlparser.SQLNode{s.With, s.Where, s.OrderBy, s.Limit}, tableExprs(s.TableExprs)...)...)
	case *sqlparser.Set:
		r.kinds |= kindOther
		for _, e := range s.Exprs {
			if e.Var != nil && (e.Var.Scope == sqlparser.GlobalScope || e.Var.Scope == sqlparser.PersistSysScope || e.Var.Scope == sqlparser.PersistOnlySysScope) {
				// Server-wide settings: general_log_file and friends
				// turn into arbitrary file writes.
				r.destructive = true
			}
		}
		return w.read(depth, s)
	case *sqlparser.Begin, *sqlparser.Commit, *sqlparser.Rollback, *sqlparser.SRollback,
		*sqlparser.Savepoint, *sqlparser.Release:
		r.kinds |= kindTransaction
		return nil
	case *sqlparser.CreateTable:
		r.kinds |= kindDDL
		r.written = append(r.written, tableName(s.Table))
		if s.IgnoreOrReplace == sqlparser.ReplaceType {
			r.destructive = true
		}
		if s.Select != nil {
			return w.read(depth, s.Select)
		}
		return nil
	case *sqlparser.CreateView:
		r.kinds |= kindDDL
		r.written = append(r.written, tableName(s.ViewName))
		r.destructive = r.destructive || s.IsReplace
		return w.read(depth, s.Select)
	case *sqlparser.AlterView:
		r.kinds |= kindDDL
		r.destructive = true
		r.written = append(r.written, tableName(s.ViewName))
		return w.read(depth, s.Select)
	case *sqlparser.AlterTable:
		r.kinds |= kindDDL
		r.destructive = true
		r.written = append(r.written, tableName(s.Table))
		return nil
	case *sqlparser.DropTable:
		r.kinds |= kindDDL
		r.destructive = true
		for _, t := range s.FromTables {
			r.written = append(r.written, tableName(t))
		}
		return nil
	case *sqlparser.DropView:
		r.kinds |= kindDDL
		r.destructive = true
		for _, t := range s.FromTables {
			r.written = append(r.written, tableName(t))
		}
		return nil
	case *sqlparser.TruncateTable:
		r.kinds |= kindDDL
		r.destructive = true
		r.written = append(r.written, tableName(s.Table))
		return nil
	case *sqlparser.RenameTable:
		r.kinds |= kindDDL
		r.destructive = true
		for _, p := range s.TablePairs {
			r.written = append(r.written, tableName(p.FromTable), tableName(p.ToTable))
		}
		return nil
	case *sqlparser.CreateDatabase:
		r.kinds |= kindDDL
		return nil
	case *sqlparser.AlterDatabase, *sqlparser.DropDatabase, *sqlparser.DropProcedure,
		*sqlparser.AlterVschema, *sqlparser.AlterMigration, *sqlparser.RevertMigration:
		r.kinds |= kindDDL
		r.destructive = true
		return nil
	case *sqlparser.CreateProcedure:
		r.kinds |= kindDDL
		return nil
	case *sqlparser.ExplainStmt:
		return w.stmt(s.Statement, depth)
	case *sqlparser.VExplainStmt:
		return w.stmt(s.Statement, depth)
	case *sqlparser.PrepareStmt:
		// PREPARE s FROM 'text': the text is the statement that EXECUTE
		// will run, so classify it; from a variable it is unknown.
		if lit, ok := s.Statement.(*sqlparser.Literal); ok && lit.Type == sqlparser.StrVal && depth < maxPrepareDepth {
			return w.parse(lit.Val, depth+1, false)
		}
		r.kinds |= kindOther
		r.dynamic = true
		return nil
	case *sqlparser.ExecuteStmt:
		r.kinds |= kindOther
		r.dynamic = true
		return nil
	case *sqlparser.CallProc:
		r.kinds |= kindOther
		r.addFunction(tableName(s.Name))
		nodes := make([]sqlparser.SQLNode, len(s.Params))
		for i, p := range s.Params {
			nodes[i] = p
		}
		return w.read(depth, nodes...)
	case *sqlparser.Load:
		// vitess keeps nothing of LOAD DATA: neither the file nor the
		// table, so the target is unknown.
		r.kinds |= kindInsert
		r.fileAccess, r.destructive = true, true
		return nil
	case *sqlparser.Kill, *sqlparser.PurgeBinaryLogs, *sqlparser.OtherAdmin:
		// OtherAdmin is what vitess makes of DO, OPTIMIZE, REPAIR and
		// others without keeping their text: unknown, so fail-safe.
		r.kinds |= kindOther
		r.destructive = true
		return nil
	case *sqlparser.Show, *sqlparser.Use, *sqlparser.ExplainTab, *sqlparser.Analyze, *sqlparser.Flush,
		*sqlparser.LockTables, *sqlparser.UnlockTables, *sqlparser.DeallocateStmt:
		r.kinds |= kindOther
		return w.read(depth, s)
	}
	r.kinds |= kindOther
	r.destructive = true
	return nil
}

func tableExprs(ts []sqlparser.TableExpr) []sqlparser.SQLNode {
	out := make([]sqlparser.SQLNode, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}

// restricted mirrors the PostgreSQL rule: a WHERE clause restricts rows
// only if it refers to a column outside subqueries, and an OR restricts
// only if every arm does.
func (w *mysqlWalker) restricted(where *sqlparser.Where) bool {
	if where == nil || where.Expr == nil {
		return false
	}
	return restrictedExpr(where.Expr)
}

func restrictedExpr(e sqlparser.Expr) bool {
	switch e := e.(type) {
	case *sqlparser.OrExpr:
		return restrictedExpr(e.Left) && restrictedExpr(e.Right)
	case *sqlparser.XorExpr:
		return restrictedExpr(e.Left) && restrictedExpr(e.Right)
	case *sqlparser.AndExpr:
		return restrictedExpr(e.Left) || restrictedExpr(e.Right)
	}
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n.(type) {
		case *sqlparser.ColName:
			found = true
			return false, nil
		case *sqlparser.Subquery:
			return false, nil
		}
		return !found, nil
	}, e)
	return found
}
