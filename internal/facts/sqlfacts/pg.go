package sqlfacts

import (
	"errors"
	"strings"
	"sync"

	"github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/toolgate/toolgate/internal/facts"
)

var errTooDeep = errors.New("statement nested too deeply to analyse")

// pgWalker reads pg_query's JSON parse tree. It is generic where it can be
// (every RangeVar is a table, every FuncCall a function, wherever they sit:
// subqueries, CTEs, default expressions, RETURNING lists) and specific where
// the meaning depends on the statement (which tables are written, whether a
// DELETE has a real WHERE clause).
type pgWalker struct {
	t      jtree
	r      *result
	budget *facts.Budget
	err    error
}

var walkerPool = sync.Pool{New: func() any { return &pgWalker{} }}

func classifyPostgres(sql string, r *result, b *facts.Budget) error {
	js, err := parser.ParseToJSON(sql)
	if err != nil {
		var pe *parser.Error
		if errors.As(err, &pe) {
			return errors.New("postgres: " + pe.Message)
		}
		return err
	}
	w := walkerPool.Get().(*pgWalker)
	defer func() {
		w.r, w.budget, w.err, w.t.src = nil, nil, nil, ""
		if cap(w.t.n) <= 1<<14 {
			walkerPool.Put(w)
		}
	}()
	w.r, w.budget = r, b
	if err := w.t.parse(js); err != nil {
		return err
	}
	root := int32(0)
	stmts := w.t.child(root, "stmts")
	if stmts >= 0 {
		for s := w.t.n[stmts].first; s >= 0; s = w.t.n[s].next {
			st := w.t.child(s, "stmt")
			if st < 0 {
				continue
			}
			r.count++
			w.visit(st, false, 0)
			if w.err != nil {
				return w.err
			}
		}
	}
	return nil
}

func (w *pgWalker) deep(depth int) bool {
	if depth > maxJSONDepth {
		w.err = errTooDeep
		return true
	}
	if w.budget.Spend(1) {
		w.err = errors.New(facts.ErrSteps)
		return true
	}
	return w.err != nil
}

// visit walks node i. write says that a table met here is written, which
// only the statement handlers turn on, for the fields that name a target.
func (w *pgWalker) visit(i int32, write bool, depth int) {
	if i < 0 || w.deep(depth) {
		return
	}
	t := &w.t
	switch t.n[i].kind {
	case jArr:
		for c := t.n[i].first; c >= 0; c = t.n[c].next {
			w.visit(c, write, depth+1)
		}
		return
	case jObj:
	default:
		return
	}
	if typ, body := t.wrapped(i); body >= 0 {
		w.typed(typ, body, write, depth+1)
		return
	}
	// Fields typed as RangeVar or FuncCall appear without the wrapper; they
	// are recognised by members only those messages have.
	if t.child(i, "relname") >= 0 {
		w.rangeVar(i, write)
		return
	}
	if t.child(i, "funcname") >= 0 && t.child(i, "funcformat") >= 0 {
		w.funcCall(i, depth)
		return
	}
	for c := t.n[i].first; c >= 0; c = t.n[c].next {
		w.visit(c, write, depth+1)
	}
}

func (w *pgWalker) rangeVar(i int32, write bool) {
	var b strings.Builder
	for _, k := range [...]string{"catalogname", "schemaname", "relname"} {
		if s := w.t.str(w.t.child(i, k)); s != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
	}
	name := strings.ToLower(b.String())
	if write {
		w.r.written = append(w.r.written, name)
	} else {
		w.r.read = append(w.r.read, name)
	}
	// A built-in view that calls volatile functions calls them for
	// whoever reads it (pg_catalog is searched first, also for
	// unqualified names).
	view := strings.TrimPrefix(name, "pg_catalog.")
	for _, f := range pgViews[view] {
		w.r.addFunction(f)
	}
}

// names joins a list of String nodes ({"String":{"sval":"x"}}) with dots.
func (w *pgWalker) names(list int32) string {
	if list < 0 {
		return ""
	}
	var b strings.Builder
	for c := w.t.n[list].first; c >= 0; c = w.t.n[c].next {
		typ, body := w.t.wrapped(c)
		if typ != "String" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(w.t.str(w.t.child(body, "sval")))
	}
	return strings.ToLower(b.String())
}

func (w *pgWalker) funcCall(i int32, depth int) {
	name := w.names(w.t.child(i, "funcname"))
	if name != "" {
		w.r.addFunction(name)
	}
	for c := w.t.n[i].first; c >= 0; c = w.t.n[c].next {
		if w.t.key(c) != "funcname" {
			w.visit(c, false, depth+1)
		}
	}
}

// dcl statements change who may do what; all count as destructive.
var pgDCL = map[string]bool{
	"GrantStmt": true, "GrantRoleStmt": true, "CreateRoleStmt": true, "AlterRoleStmt": true,
	"AlterRoleSetStmt": true, "DropRoleStmt": true, "AlterDefaultPrivilegesStmt": true,
	"ReassignOwnedStmt": true, "DropOwnedStmt": true, "AlterOwnerStmt": true,
	"CreateUserMappingStmt": true, "AlterUserMappingStmt": true, "DropUserMappingStmt": true,
	"CreatePolicyStmt": true, "AlterPolicyStmt": true,
}

// pgDDL lists DDL statements whose names do not start with Create, Alter,
// Drop or Define.
var pgDDL = map[string]bool{
	"TruncateStmt": true, "IndexStmt": true, "ViewStmt": true, "RenameStmt": true,
	"CommentStmt": true, "RuleStmt": true, "CompositeTypeStmt": true, "SecLabelStmt": true,
	"ImportForeignSchemaStmt": true, "RefreshMatViewStmt": true, "ReplicaIdentityStmt": true,
}

// Fields of DDL and DCL statements that name the object being changed.
var pgTargetFields = map[string]bool{
	"relation": true, "relations": true, "view": true, "into": true, "objects": true, "rel": true,
}

func (w *pgWalker) typed(typ string, body int32, write bool, depth int) {
	t := &w.t
	r := w.r
	switch typ {
	case "RangeVar":
		w.rangeVar(body, write)
		return
	case "FuncCall":
		w.funcCall(body, depth)
		return
	case "SelectStmt":
		r.kinds |= kindSelect
		if t.child(body, "lockingClause") >= 0 {
			// FOR UPDATE / FOR SHARE lock the rows they read, which
			// PostgreSQL refuses in a read-only transaction: a write.
			r.kinds |= kindUpdate
		}
		if t.child(body, "intoClause") >= 0 {
			// SELECT … INTO creates a table, like CREATE TABLE AS.
			r.kinds |= kindDDL
		}
		w.fields(body, depth, "intoClause")
		return
	case "InsertStmt":
		r.kinds |= kindInsert
		w.fields(body, depth, "relation")
		return
	case "UpdateStmt", "DeleteStmt":
		if typ == "UpdateStmt" {
			r.kinds |= kindUpdate
		} else {
			r.kinds |= kindDelete
		}
		if !w.restricted(t.child(body, "whereClause"), depth) {
			r.destructive = true
		}
		w.fields(body, depth, "relation")
		return
	case "MergeStmt":
		for _, c := range w.children(t.child(body, "mergeWhenClauses")) {
			_, mw := t.wrapped(c)
			switch t.str(t.child(mw, "commandType")) {
			case "CMD_UPDATE":
				r.kinds |= kindUpdate
			case "CMD_INSERT":
				r.kinds |= kindInsert
			case "CMD_DELETE":
				r.kinds |= kindDelete
				r.destructive = true
			}
		}
		w.fields(body, depth, "relation")
		return
	case "CommonTableExpr":
		switch q, _ := t.wrapped(t.child(body, "ctequery")); q {
		case "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt":
			r.dataModifyingCTE = true
		}
	case "CopyStmt":
		r.kinds |= kindOther
		if t.isTrue(body, "is_program") {
			// COPY … PROGRAM runs a shell command as the database server.
			r.copyProgram, r.fileAccess, r.destructive = true, true, true
		} else if t.child(body, "filename") >= 0 {
			r.fileAccess = true
		}
		if t.isTrue(body, "is_from") {
			w.fields(body, depth, "relation")
		} else {
			w.fields(body, depth)
		}
		return
	case "DropStmt":
		r.kinds |= kindDDL
		r.destructive = true
		switch t.str(t.child(body, "removeType")) {
		case "OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE", "OBJECT_SEQUENCE":
			for _, o := range w.children(t.child(body, "objects")) {
				if lt, lb := t.wrapped(o); lt == "List" {
					if n := w.names(t.child(lb, "items")); n != "" {
						r.written = append(r.written, n)
					}
				}
			}
		}
		w.fields(body, depth)
		return
	case "TransactionStmt":
		r.kinds |= kindTransaction
		return
	case "ExplainStmt", "PrepareStmt", "DeclareCursorStmt":
		// Their kind is the kind of the statement they wrap: EXPLAIN
		// ANALYZE runs it, PREPARE and DECLARE run it later. PREPARE
		// also leaves a statement in the session, for EXECUTE.
		if typ == "PrepareStmt" {
			r.kinds |= kindOther
		}
		w.fields(body, depth)
		return
	case "DoStmt":
		// An anonymous code block can do anything and is not parsed here.
		r.kinds |= kindOther
		r.dynamic, r.destructive = true, true
		return
	case "ExecuteStmt":
		r.kinds |= kindOther
		r.dynamic = true
		w.fields(body, depth)
		return
	case "LoadStmt":
		// LOAD loads a shared library into the server.
		r.kinds |= kindOther
		r.fileAccess, r.destructive = true, true
		return
	case "VariableSetStmt":
		switch t.str(t.child(body, "name")) {
		case "role", "session_authorization":
			r.kinds |= kindDCL
		default:
			r.kinds |= kindOther
		}
		w.fields(body, depth)
		return
	}
	if !strings.HasSuffix(typ, "Stmt") || typ == "RawStmt" || typ == "SetOperationStmt" {
		// Expressions and other parts: walk them for tables and functions.
		w.visit(body, false, depth)
		return
	}
	switch {
	case pgDCL[typ]:
		r.kinds |= kindDCL
		r.destructive = true
	case pgDDL[typ] || strings.HasPrefix(typ, "Create") || strings.HasPrefix(typ, "Alter") ||
		strings.HasPrefix(typ, "Drop") || strings.HasPrefix(typ, "Define"):
		r.kinds |= kindDDL
		if typ == "TruncateStmt" || typ == "RenameStmt" || strings.HasPrefix(typ, "Alter") ||
			strings.HasPrefix(typ, "Drop") || t.isTrue(body, "replace") {
			r.destructive = true
		}
	default:
		r.kinds |= kindOther
		w.fields(body, depth)
		return
	}
	for c := t.n[body].first; c >= 0; c = t.n[c].next {
		w.visit(c, pgTargetFields[t.key(c)], depth+1)
	}
}

// fields walks the members of a statement; those named in targets name a
// written table, the rest are read.
func (w *pgWalker) fields(body int32, depth int, targets ...string) {
	for c := w.t.n[body].first; c >= 0; c = w.t.n[c].next {
		write := false
		for _, k := range targets {
			if w.t.key(c) == k {
				write = true
			}
		}
		w.visit(c, write, depth+1)
	}
}

func (w *pgWalker) children(list int32) []int32 {
	if list < 0 {
		return nil
	}
	var out []int32
	for c := w.t.n[list].first; c >= 0; c = w.t.n[c].next {
		out = append(out, c)
	}
	return out
}

// restricted reports whether a WHERE clause limits the rows a statement
// touches. A clause that refers to no column of the row (WHERE true,
// WHERE 1=1, WHERE 'a'='a', WHERE EXISTS (SELECT 1)) does not, and neither
// does an OR with such an arm (WHERE id = 5 OR 1=1). Tautologies over
// columns (WHERE id = id) are not recognised; see docs/facts.md.
func (w *pgWalker) restricted(i int32, depth int) bool {
	if i < 0 || w.deep(depth) {
		return false
	}
	t := &w.t
	typ, body := t.wrapped(i)
	if typ == "BoolExpr" {
		args := w.children(t.child(body, "args"))
		switch t.str(t.child(body, "boolop")) {
		case "OR_EXPR":
			for _, a := range args {
				if !w.restricted(a, depth+1) {
					return false
				}
			}
			return len(args) > 0
		case "AND_EXPR":
			for _, a := range args {
				if w.restricted(a, depth+1) {
					return true
				}
			}
			return false
		}
	}
	return w.refersToRow(i, depth)
}

// refersToRow looks for a column reference outside subqueries: a subquery
// that does not mention the outer row yields the same answer for every row.
func (w *pgWalker) refersToRow(i int32, depth int) bool {
	if i < 0 || w.deep(depth) {
		return false
	}
	t := &w.t
	switch t.n[i].kind {
	case jObj, jArr:
	default:
		return false
	}
	if typ, _ := t.wrapped(i); typ == "ColumnRef" || typ == "CurrentOfExpr" {
		return true
	}
	for c := t.n[i].first; c >= 0; c = t.n[c].next {
		if t.key(c) == "subselect" {
			continue
		}
		if w.refersToRow(c, depth+1) {
			return true
		}
	}
	return false
}
