package shellfacts

import (
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// systemDirs are the directories whose programs are the system's own:
// /usr/bin/ls is ls, but ./ls or /tmp/x/ls is whatever that file is.
var systemDirs = map[string]bool{"/bin": true, "/usr/bin": true, "/sbin": true, "/usr/sbin": true}

// commandName returns the name a command is reported under and whether it
// is a command the system finds by name: a bare name (looked up in PATH,
// or a builtin) or a program in a system directory, reported by its
// name. A program given by any other path is reported by that path and
// is not the system command of the same name.
func commandName(s string) (string, bool) {
	if !strings.Contains(s, "/") {
		return s, true
	}
	// "..", unlike "." and "//", is not the same directory whatever the
	// file system holds: /bin/.. is /usr when /bin links to /usr/bin.
	if slices.Contains(strings.Split(s, "/"), "..") {
		return s, false
	}
	clean := path.Clean(s)
	if dir, base := path.Split(clean); systemDirs[strings.TrimSuffix(dir, "/")] && base != "" {
		return base, true
	}
	return s, false
}

// notKnown records that what a command does is not known to the table.
func (a *analyser) notKnown(name string) {
	a.unknownCmds = append(a.unknownCmds, name)
}

// effect applies one role of an argument of cmd.
func (a *analyser) effect(cmd string, role byte, v arg, st *syntax.Stmt, depth int) {
	switch role {
	case 'w':
		if !v.dyn && harmlessTarget(v.s) {
			return
		}
		a.writesFiles = true
	case 'x':
		if v.dyn {
			a.dynamic = true
			a.notKnown(cmd)
			return
		}
		// The value names a program that cmd runs.
		a.command([]arg{v}, st, false, depth, 1)
	case 'c':
		a.stringOrDynamic(v, st, depth)
	case 'n':
		a.network = true
		a.networkTools = append(a.networkTools, cmd)
	case 'u':
		a.notKnown(cmd)
	}
}

// harmlessTarget reports paths that writing to changes nothing.
func harmlessTarget(p string) bool {
	switch p {
	case "/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd/1", "/dev/fd/2", "-":
		return true
	}
	return false
}

// anyRole applies every role in roles to a value known only at run time.
func (a *analyser) anyRole(cmd, roles string, v arg, st *syntax.Stmt, depth int) {
	for i := 0; i < len(roles); i++ {
		r := roles[i]
		if r == 'x' || r == 'c' {
			// A program or code chosen at run time.
			a.notKnown(cmd)
			continue
		}
		a.effect(cmd, r, v, st, depth)
	}
}

// applySpec reads the arguments of cmd the way the program does, by its
// spec, and applies the role of each. It returns the operands.
func (a *analyser) applySpec(cmd string, sp *spec, rest []arg, st *syntax.Stmt, depth int) []arg {
	var operands []arg
	optionsEnd := false
	for i := 0; i < len(rest); i++ {
		x := rest[i]
		switch {
		case x.dyn:
			// A value known only at run time may be any option (if it
			// comes before "--") and any number of operands.
			roles := sp.operandRoles()
			if !optionsEnd {
				roles += sp.optionRoles()
			}
			a.anyRole(cmd, roles, x, st, depth)
			operands = append(operands, x)
		case optionsEnd || !isOption(x.s) || (sp.loose && !sp.knows(x.s)):
			operands = append(operands, x)
		case x.s == "--":
			optionsEnd = true
		default:
			i = a.option(cmd, sp, rest, i, st, depth)
		}
	}
	for k, op := range operands {
		if op.dyn {
			continue
		}
		a.effect(cmd, sp.operandRole(k, k == len(operands)-1, op.s), op, st, depth)
	}
	return operands
}

func isOption(s string) bool { return len(s) > 1 && s[0] == '-' }

// option reads the option rest[i] (a long option, or a cluster of short
// ones), applies the roles of it and its values, and returns the index of
// the last argument it used.
func (a *analyser) option(cmd string, sp *spec, rest []arg, i int, st *syntax.Stmt, depth int) int {
	s := rest[i].s
	if !strings.HasPrefix(s, "--") {
		return a.shortOptions(cmd, sp, rest, i, st, depth)
	}
	name, val, hasVal := strings.Cut(s[2:], "=")
	o, ok := sp.lookupLong(name)
	if !ok || (hasVal && o.roles == "") {
		a.notKnown(cmd)
		return i
	}
	if o.flagRole != 0 {
		a.effect(cmd, o.flagRole, arg{s: s}, st, depth)
	}
	for j := 0; j < len(o.roles); j++ {
		v := arg{s: val}
		switch {
		case j == 0 && hasVal:
		case o.optional:
			continue
		case i+1 < len(rest):
			i++
			v = rest[i]
		default:
			continue
		}
		a.effect(cmd, o.roles[j], v, st, depth)
	}
	return i
}

// shortOptions reads the cluster of short options rest[i] ("-rn",
// "-k2", "-o" FILE) and returns the index of the last argument it used.
func (a *analyser) shortOptions(cmd string, sp *spec, rest []arg, i int, st *syntax.Stmt, depth int) int {
	s := rest[i].s
	if sp.numeric && isAllDigits(s[1:]) {
		return i
	}
	for j := 1; j < len(s); j++ {
		o, ok := sp.short[s[j]]
		if !ok {
			a.notKnown(cmd)
			return i
		}
		if o.flagRole != 0 {
			a.effect(cmd, o.flagRole, arg{s: s}, st, depth)
		}
		if o.roles == "" {
			continue
		}
		v := arg{s: s[j+1:]}
		switch {
		case v.s != "" || o.optional:
		case i+1 < len(rest):
			i++
			v = rest[i]
		default:
			return i
		}
		if o.optional && v.s == "" {
			return i
		}
		a.effect(cmd, o.roles[0], v, st, depth)
		for k := 1; k < len(o.roles) && i+1 < len(rest); k++ {
			i++
			a.effect(cmd, o.roles[k], rest[i], st, depth)
		}
		return i
	}
	return i
}

// git reads git's global options and its subcommand. Subcommands that only
// read are in the table; others (commit, checkout, push, config, aliases,
// …) are unknown, on top of the network and destructive rules.
func (a *analyser) git(cmd string, rest []arg, st *syntax.Stmt, depth int) {
	ops := a.optionsUntilOperand(cmd, gitGlobal, rest, st, depth)
	if len(ops) == 0 {
		return
	}
	sub := ops[0]
	if sub.dyn {
		a.notKnown(cmd)
		a.dynamic = true
		return
	}
	args := ops[1:]
	switch sub.s {
	case "stash", "reflog":
		// Only their listing forms read: "stash list", "reflog show".
		if len(args) > 0 && !args[0].dyn && (args[0].s == "list" || args[0].s == "show") {
			a.applySpec(cmd, gitSubcommands["log"], args[1:], st, depth)
			return
		}
		if sub.s == "reflog" && len(args) == 0 {
			return
		}
		a.notKnown(cmd)
		a.writesFiles = true
		return
	case "remote":
		if len(a.applySpec(cmd, gitSubcommands["remote"], args, st, depth)) > 0 {
			a.notKnown(cmd)
		}
		return
	}
	sp := gitSubcommands[sub.s]
	if sp == nil {
		a.notKnown(cmd)
		return
	}
	a.applySpec(cmd, sp, args, st, depth)
}

// optionsUntilOperand reads options by sp up to the first operand (git's
// global options come before the subcommand) and returns that operand and
// everything after it.
func (a *analyser) optionsUntilOperand(cmd string, sp *spec, rest []arg, st *syntax.Stmt, depth int) []arg {
	for i := 0; i < len(rest); i++ {
		x := rest[i]
		switch {
		case x.dyn || !isOption(x.s):
			return rest[i:]
		case x.s == "--":
			return rest[i+1:]
		}
		i = a.option(cmd, sp, rest, i, st, depth)
	}
	return nil
}

// findPrimaries are find's tests and actions with the roles of the values
// each takes ("" for none); "!R" marks an action with an effect.
var findPrimaries = map[string]string{
	"-name": "v", "-iname": "v", "-path": "v", "-ipath": "v", "-wholename": "v", "-iwholename": "v",
	"-regex": "v", "-iregex": "v", "-regextype": "v", "-lname": "v", "-ilname": "v", "-type": "v",
	"-xtype": "v", "-size": "v", "-perm": "v", "-user": "v", "-group": "v", "-uid": "v", "-gid": "v",
	"-links": "v", "-inum": "v", "-mtime": "v", "-atime": "v", "-ctime": "v", "-mmin": "v",
	"-amin": "v", "-cmin": "v", "-newer": "r", "-anewer": "r", "-cnewer": "r", "-samefile": "r",
	"-used": "v", "-fstype": "v", "-context": "v", "-maxdepth": "v", "-mindepth": "v",
	"-files0-from": "r", "-printf": "v",
	"-empty": "", "-executable": "", "-readable": "", "-writable": "", "-nouser": "", "-nogroup": "",
	"-true": "", "-false": "", "-print": "", "-print0": "", "-ls": "", "-prune": "", "-quit": "",
	"-depth": "", "-d": "", "-follow": "", "-xdev": "", "-mount": "", "-noleaf": "", "-daystart": "",
	"-ignore_readdir_race": "", "-noignore_readdir_race": "", "-warn": "", "-nowarn": "",
	"-not": "", "-and": "", "-or": "", "-a": "", "-o": "", "!": "", "(": "", ")": "", ",": "",
	"-help": "", "--help": "", "-version": "", "--version": "",
	"-fprint": "w", "-fprint0": "w", "-fls": "w", "-fprintf": "wv", "-delete": "!w",
}

// find reads find's options, starting points and expression. -exec and
// friends run commands; -fprint and friends write files; -delete removes.
func (a *analyser) find(cmd string, rest []arg, st *syntax.Stmt, depth, wrappers int) {
	i := 0
	// Options before the starting points.
	for ; i < len(rest) && !rest[i].dyn; i++ {
		s := rest[i].s
		if s == "-H" || s == "-L" || s == "-P" || strings.HasPrefix(s, "-O") {
			continue
		}
		if s == "-D" {
			i++
			continue
		}
		break
	}
	// Starting points: until the first argument that starts an expression.
	for ; i < len(rest); i++ {
		s := rest[i].s
		if !rest[i].dyn && (strings.HasPrefix(s, "-") || s == "(" || s == "!") {
			break
		}
	}
	for ; i < len(rest); i++ {
		x := rest[i]
		if x.dyn {
			// A primary chosen at run time may be -exec or -delete.
			a.notKnown(cmd)
			continue
		}
		switch x.s {
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(rest) && rest[j].s != ";" && rest[j].s != "+" {
				j++
			}
			if j > i+1 {
				inner := append([]arg(nil), rest[i+1:j]...)
				// {} is a file name find supplies: unknown, and it may
				// start with "-".
				for k := range inner {
					if strings.Contains(inner[k].s, "{}") {
						inner[k].dyn = k > 0
					}
				}
				a.command(inner, st, false, depth, wrappers+1)
			}
			i = j
			continue
		}
		roles, ok := findPrimaries[x.s]
		if !ok {
			a.notKnown(cmd)
			continue
		}
		if strings.HasPrefix(roles, "!") {
			a.effect(cmd, roles[1], x, st, depth)
			continue
		}
		for k := 0; k < len(roles) && i+1 < len(rest); k++ {
			i++
			a.effect(cmd, roles[k], rest[i], st, depth)
		}
	}
}
