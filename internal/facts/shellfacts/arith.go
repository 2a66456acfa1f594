package shellfacts

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Bash evaluates the value of a variable used in an arithmetic context as
// an arithmetic expression, and an array subscript in such an expression
// runs command substitutions: with x='a[$(cmd)]', $((x)), ((x)),
// [[ $x -eq 0 ]], ${y[x]}, ${s:x:1}, let, for ((…)), a[x]=1 and an
// assignment to a "declare -i" variable all run cmd. So do subscripts in
// names given to builtins ([[ -v 'a[$(cmd)]' ]], read, printf -v, unset,
// declare) and prompt expansion (${x@P}). Code can thus hide in a value
// the facts never see.
//
// The rule here: an arithmetic context may read only numbers and
// variables that hold a number for sure, which means variables assigned
// in the same shell text before the use, and only ever assigned integer
// literals or arithmetic results (never a string, read input, a command's
// output, a loop word or the environment); and a name with a subscript
// must have a number or such a variable as its subscript. Anything else
// makes the line dynamic.

// numericSpecials are variables bash itself keeps numeric, whatever the
// environment says (UID and EUID are not: bash evaluates them from the
// environment).
var numericSpecials = map[string]bool{
	"#": true, "?": true, "$": true, "!": true, "RANDOM": true, "SECONDS": true, "LINENO": true,
	"PPID": true, "BASHPID": true, "EPOCHSECONDS": true, "OPTIND": true,
}

// integerSpecials are the variables bash evaluates as arithmetic when
// they are assigned (RANDOM='a[$(cmd)]' runs cmd).
var integerSpecials = map[string]bool{"RANDOM": true, "SRANDOM": true, "OPTIND": true}

// scope is what one shell text assigns to its variables.
type scope struct {
	// firstSafe is the offset of the first assignment of an integer.
	firstSafe map[string]int
	// unsafe marks variables assigned anything else anywhere.
	unsafe map[string]bool
	// integer marks variables declared -i: every assignment to them is
	// evaluated as arithmetic.
	integer map[string]bool
}

// collect records the assignments in f, before the uses are checked.
func (a *analyser) collect(f *syntax.File) *scope {
	sc := &scope{firstSafe: map[string]int{}, unsafe: map[string]bool{}, integer: map[string]bool{}}
	safe := func(name string, off int) {
		if o, ok := sc.firstSafe[name]; !ok || off < o {
			sc.firstSafe[name] = off
		}
	}
	// Integer declarations first: they change how assignments before
	// them in the text (in functions, loops) are read.
	syntax.Walk(f, func(n syntax.Node) bool {
		if d, ok := n.(*syntax.DeclClause); ok {
			integer := false
			for _, as := range d.Args {
				if as.Name == nil && as.Value != nil {
					if opt, ok := staticWord(as.Value); ok && strings.HasPrefix(opt, "-") {
						integer = integer || strings.Contains(opt, "i")
						if strings.Contains(opt, "n") {
							// A nameref: reading it reads the variable (and
							// subscript) named by its value.
							a.dynamic = true
						}
					}
					continue
				}
				if integer && as.Name != nil {
					sc.integer[as.Name.Value] = true
				}
			}
		}
		return true
	})
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Assign:
			if n.Name == nil || n.Naked {
				// declare x keeps the value x had (perhaps from the
				// environment): neither safe nor unsafe.
				return true
			}
			name, off := n.Name.Value, int(n.Pos().Offset())
			switch {
			case sc.integer[name]:
				safe(name, off)
			case n.Array != nil:
				ok := true
				for _, e := range n.Array.Elems {
					ok = ok && e.Value != nil && integerWord(e.Value)
				}
				if ok {
					safe(name, off)
				} else {
					sc.unsafe[name] = true
				}
			case n.Value == nil || integerWord(n.Value):
				safe(name, off)
			default:
				sc.unsafe[name] = true
			}
		case *syntax.BinaryArithm:
			if isAssignOp(n.Op) {
				if name, ok := arithTarget(n.X); ok {
					safe(name, int(n.Pos().Offset()))
				}
			}
		case *syntax.UnaryArithm:
			if n.Op == syntax.Inc || n.Op == syntax.Dec {
				if name, ok := arithTarget(n.X); ok {
					safe(name, int(n.Pos().Offset()))
				}
			}
		case *syntax.ForClause:
			if wi, ok := n.Loop.(*syntax.WordIter); ok && wi.Name != nil {
				ok := wi.InPos.IsValid() && !n.Select
				for _, w := range wi.Items {
					ok = ok && integerWord(w)
				}
				if ok {
					safe(wi.Name.Value, int(wi.Pos().Offset()))
				} else {
					sc.unsafe[wi.Name.Value] = true
				}
			}
		case *syntax.CallExpr:
			// Builtins that assign what they read or format.
			if len(n.Args) > 0 {
				switch n.Args[0].Lit() {
				case "read", "mapfile", "readarray", "printf", "getopts", "wait":
					for _, w := range n.Args[1:] {
						if s, ok := staticWord(w); ok {
							sc.unsafe[varBase(s)] = true
						}
					}
				}
			}
		}
		return true
	})
	return sc
}

func isAssignOp(op syntax.BinAritOperator) bool {
	switch op {
	case syntax.Assgn, syntax.AddAssgn, syntax.SubAssgn, syntax.MulAssgn, syntax.QuoAssgn,
		syntax.RemAssgn, syntax.AndAssgn, syntax.OrAssgn, syntax.XorAssgn, syntax.ShlAssgn, syntax.ShrAssgn:
		return true
	}
	return false
}

// arithTarget is the variable an arithmetic assignment writes.
func arithTarget(x syntax.ArithmExpr) (string, bool) {
	w, ok := x.(*syntax.Word)
	if !ok || len(w.Parts) != 1 {
		return "", false
	}
	switch p := w.Parts[0].(type) {
	case *syntax.Lit:
		return p.Value, isName(p.Value)
	case *syntax.ParamExp:
		if p.Param != nil && p.Exp == nil && p.Slice == nil && p.Repl == nil && !p.Length && !p.Excl {
			return p.Param.Value, true
		}
	}
	return "", false
}

func varBase(s string) string {
	if i := strings.IndexByte(s, '['); i >= 0 {
		return s[:i]
	}
	if i := strings.IndexByte(s, '='); i >= 0 {
		return s[:i]
	}
	return s
}

func isName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// isNumber reports an integer literal as bash's arithmetic reads it:
// decimal, 0x hex, 0 octal, or base#digits.
func isNumber(s string) bool {
	switch {
	case isAllDigits(s):
		return true
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		return allIn(s[2:], "0123456789abcdefABCDEF")
	}
	b, d, ok := strings.Cut(s, "#")
	return ok && isAllDigits(b) && d != "" && allIn(d, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ@_")
}

func allIn(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(chars, s[i]) < 0 {
			return false
		}
	}
	return s != ""
}

// integerWord reports a word whose value is an integer whatever happens at
// run time: an integer literal, or one arithmetic expansion.
func integerWord(w *syntax.Word) bool {
	if s, ok := staticWord(w); ok {
		return isNumber(strings.TrimLeft(s, "+-"))
	}
	if len(w.Parts) == 1 {
		_, ok := w.Parts[0].(*syntax.ArithmExp)
		return ok
	}
	return false
}

// arithCheck checks the arithmetic contexts in node n of the current
// shell text (one node of the main walk).
func (a *analyser) arithCheck(n syntax.Node) {
	switch n := n.(type) {
	case *syntax.ArithmExp:
		a.arith(n.X)
	case *syntax.ArithmCmd:
		a.arith(n.X)
	case *syntax.LetClause:
		for _, x := range n.Exprs {
			a.arith(x)
		}
	case *syntax.CStyleLoop:
		a.arith(n.Init)
		a.arith(n.Cond)
		a.arith(n.Post)
	case *syntax.ParamExp:
		if n.Index != nil && !isAllIndex(n.Index) {
			a.arith(n.Index)
		}
		if n.Slice != nil {
			a.arith(n.Slice.Offset)
			a.arith(n.Slice.Length)
		}
		if n.Exp != nil && (n.Exp.Op == syntax.AssignUnset || n.Exp.Op == syntax.AssignUnsetOrNull) &&
			n.Param != nil && a.scope().integer[n.Param.Value] && n.Exp.Word != nil {
			// ${n:=v} assigns v to n, evaluated when n is declared -i.
			a.arithWord(n.Exp.Word)
		}
		if n.Exp != nil && n.Exp.Op == syntax.OtherParamOps && n.Exp.Word != nil && n.Exp.Word.Lit() == "P" {
			// ${x@P} expands x as a prompt string, which runs $(…).
			a.dynamic = true
		}
	case *syntax.Assign:
		if n.Index != nil {
			a.arith(n.Index)
		}
		if n.Array != nil {
			for _, e := range n.Array.Elems {
				if e.Index != nil {
					a.arith(e.Index)
				}
			}
		}
		if n.Name != nil && n.Value != nil && (a.scope().integer[n.Name.Value] || integerSpecials[n.Name.Value]) {
			a.arithWord(n.Value)
		}
		if n.Name != nil && n.Array != nil && a.scope().integer[n.Name.Value] {
			// declare -ai a; a=(v …) evaluates every element.
			for _, e := range n.Array.Elems {
				if e.Value != nil {
					a.arithWord(e.Value)
				}
			}
		}
	case *syntax.ForClause:
		// for n in v …; select n in v …: each word is assigned to n.
		if wi, ok := n.Loop.(*syntax.WordIter); ok && wi.Name != nil && a.scope().integer[wi.Name.Value] {
			for _, w := range wi.Items {
				a.arithWord(w)
			}
			if !wi.InPos.IsValid() {
				// "for n; do" iterates over the positional parameters.
				a.dynamic = true
			}
		}
	case *syntax.DeclClause:
		for _, as := range n.Args {
			if as.Name == nil && as.Value != nil {
				if s, ok := staticWord(as.Value); !ok || !strings.HasPrefix(s, "-") {
					// declare 'PATH=/tmp' assigns as declare PATH=/tmp does.
					a.varName(as.Value, true)
				}
			}
		}
	case *syntax.BinaryTest:
		switch n.Op {
		case syntax.TsEql, syntax.TsNeq, syntax.TsLeq, syntax.TsGeq, syntax.TsLss, syntax.TsGtr:
			if w, ok := n.X.(*syntax.Word); ok {
				a.arithWord(w)
			}
			if w, ok := n.Y.(*syntax.Word); ok {
				a.arithWord(w)
			}
		}
	case *syntax.UnaryTest:
		if n.Op == syntax.TsVarSet {
			if w, ok := n.X.(*syntax.Word); ok {
				a.varName(w, false)
			}
		}
	case *syntax.CallExpr:
		a.nameArgs(n.Args)
	}
}

// nameArgs checks the variable names given to builtins that take them.
func (a *analyser) nameArgs(args []*syntax.Word) {
	if len(args) == 0 {
		return
	}
	cmd := args[0].Lit()
	rest := args[1:]
	// assigns: the builtin sets the variable, as an assignment would.
	assigns := cmd != "test" && cmd != "["
	after := func(opt string) {
		for i, w := range rest {
			if w.Lit() == opt && i+1 < len(rest) {
				a.varName(rest[i+1], assigns)
			}
		}
	}
	// operands checks every operand, skipping options and the values of
	// those in withValue.
	operands := func(withValue string) {
		for i := 0; i < len(rest); i++ {
			s, ok := staticWord(rest[i])
			if ok && len(s) > 1 && s[0] == '-' {
				if strings.ContainsAny(s[len(s)-1:], withValue) && len(s) == 2 {
					i++
				}
				continue
			}
			a.varName(rest[i], assigns)
		}
	}
	switch cmd {
	case "test", "[":
		after("-v")
	case "printf":
		after("-v")
	case "wait":
		after("-p")
	case "read":
		after("-a")
		operands("adinNptu")
	case "mapfile", "readarray":
		operands("dnOsuCc")
	case "unset":
		operands("")
	case "getopts":
		if len(rest) >= 2 {
			a.varName(rest[1], assigns)
		}
	}
}

// varName checks a word used as a variable name: a name known only at run
// time, or one whose subscript is not a number or a numeric variable,
// runs code. assigns says the name is set (read PATH, printf -v PATH,
// unset PATH), which is judged as an assignment to it.
func (a *analyser) varName(w *syntax.Word, assigns bool) {
	s, ok := staticWord(w)
	if !ok {
		a.dynamic = true
		return
	}
	s, _, _ = strings.Cut(s, "=")
	if assigns {
		a.variable(varBase(s))
		if a.scope().integer[varBase(s)] {
			// read n, printf -v n …: input assigned to a declare -i
			// variable is evaluated as arithmetic.
			a.dynamic = true
		}
	}
	i := strings.IndexByte(s, '[')
	if i < 0 {
		return
	}
	j := strings.LastIndexByte(s, ']')
	if j < i {
		a.dynamic = true
		return
	}
	sub := s[i+1 : j]
	switch {
	case sub == "@" || sub == "*" || isAllDigits(strings.TrimPrefix(sub, "-")):
	case isName(sub) && a.numericVar(sub, int(w.Pos().Offset())):
	default:
		a.dynamic = true
	}
}

func isAllIndex(x syntax.ArithmExpr) bool {
	w, ok := x.(*syntax.Word)
	if !ok {
		return false
	}
	l := w.Lit()
	return l == "@" || l == "*"
}

// arith checks an arithmetic expression.
func (a *analyser) arith(x syntax.ArithmExpr) {
	switch x := x.(type) {
	case nil:
	case *syntax.BinaryArithm:
		if !isAssignOp(x.Op) {
			a.arith(x.X)
		} else if _, ok := arithTarget(x.X); !ok {
			a.arith(x.X)
		}
		a.arith(x.Y)
	case *syntax.UnaryArithm:
		if x.Op == syntax.Inc || x.Op == syntax.Dec {
			if _, ok := arithTarget(x.X); ok {
				return
			}
		}
		a.arith(x.X)
	case *syntax.ParenArithm:
		a.arith(x.X)
	case *syntax.Word:
		a.arithWord(x)
	default:
		a.dynamic = true
	}
}

// arithWord checks a word whose expanded text bash evaluates as an
// arithmetic expression.
func (a *analyser) arithWord(w *syntax.Word) {
	if w == nil {
		return
	}
	for _, p := range w.Parts {
		if !a.arithPart(p) {
			a.dynamic = true
			return
		}
	}
}

func (a *analyser) arithPart(p syntax.WordPart) bool {
	switch p := p.(type) {
	case *syntax.Lit:
		// Numbers, operators and variable names; a name must hold a
		// number for sure.
		for _, tok := range strings.FieldsFunc(p.Value, func(r rune) bool {
			return strings.ContainsRune("+-*/%<>=!&|^~?:(), \t\n", r)
		}) {
			switch {
			case isNumber(tok):
			case isName(tok):
				if !a.numericVar(tok, int(p.Pos().Offset())) {
					return false
				}
			default:
				return false
			}
		}
		return true
	case *syntax.ParamExp:
		if p.Length && p.Exp == nil {
			return true
		}
		if p.Param == nil || p.Excl || p.Slice != nil || p.Repl != nil || p.Names != 0 || p.Width || p.IsSet {
			return false
		}
		name := p.Param.Value
		if !numericSpecials[name] && !a.numericVar(name, int(p.Pos().Offset())) {
			return false
		}
		if p.Exp != nil {
			switch p.Exp.Op {
			case syntax.DefaultUnset, syntax.DefaultUnsetOrNull:
				return p.Exp.Word == nil || integerWord(p.Exp.Word)
			}
			return false
		}
		return true
	case *syntax.ArithmExp:
		return true
	case *syntax.DblQuoted:
		for _, q := range p.Parts {
			if !a.arithPart(q) {
				return false
			}
		}
		return true
	}
	return false
}

// numericVar reports whether the variable name holds a number for sure at
// offset off of the current shell text.
func (a *analyser) numericVar(name string, off int) bool {
	if numericSpecials[name] {
		return true
	}
	sc := a.scope()
	first, ok := sc.firstSafe[name]
	return ok && first < off && !sc.unsafe[name]
}

func (a *analyser) scope() *scope {
	if len(a.scopes) == 0 {
		return &scope{}
	}
	return a.scopes[len(a.scopes)-1]
}
