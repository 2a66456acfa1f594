package shellfacts

import (
	"fmt"
	"strings"
)

// A spec says what a command does with each of its options and operands:
// which values are only data, which name files it reads or writes, which
// name a program it runs or a host it contacts. A command, option or
// operand the table does not describe is "unknown": the facts do not
// know what it does, and say so.
//
// Specs are written in a small notation, one string per command, read
// once at start (parseSpec):
//
//	-abc      short flags a, b and c (no value)
//	-x:R      short option x with a value of role R (attached or next)
//	-x?:R     short option x with an optional value, attached only (-U3)
//	-x!R      short flag x with role R (a flag that writes, runs, …)
//	--name    long flag          --name!R  long flag with role R
//	--name:R  long option with a value (--name=v or --name v)
//	--name?:R long option with an optional value (--name=v only)
//	--name:RR long option with two values (jq --arg NAME VALUE)
//	@L        operand layout (below); default @r
//	gnu       long options may be abbreviated to a unique prefix
//	        (getopt_long), so the table must list every long option
//	-#        numeric options (-5 for -n 5)
//	loose     an argument that is no known option is an operand (echo
//	          prints "-x"; test reads "-lt" as an operator)
//
// Roles: v a value that is only data, r a file read, w a file written
// (created, changed or removed), x a program run, c shell code run, n a
// host contacted, u an effect the table does not judge (unknown).
//
// Operand layouts: r (all read), w (all written), v (all values), rw
// (first read, second written, more unknown: uniq), Rw (all read, the
// last written: cp, mv), vw (first a value, the rest written: chmod),
// date (a +FORMAT is a value, anything else sets the clock: unknown),
// none (operands unknown).
type spec struct {
	short    map[byte]option
	long     map[string]option
	operands string
	gnu      bool
	numeric  bool
	loose    bool
}

type option struct {
	roles    string // the value's roles, one letter per value; "" for a flag
	flagRole byte   // the role of a flag, 0 for harmless
	optional bool   // the value is optional and only given attached or after "="
}

func parseSpec(name, s string) *spec {
	sp := &spec{short: map[byte]option{}, long: map[string]option{}, operands: "r"}
	for _, tok := range strings.Fields(s) {
		switch {
		case tok == "gnu":
			sp.gnu = true
		case tok == "-#":
			sp.numeric = true
		case tok == "loose":
			sp.loose = true
		case strings.HasPrefix(tok, "@"):
			sp.operands = tok[1:]
		case strings.HasPrefix(tok, "--"):
			n, o := parseOption(name, tok[2:])
			sp.long[n] = o
		case strings.HasPrefix(tok, "-") && len(tok) > 1:
			body := tok[1:]
			if len(body) > 1 && (body[1] == ':' || body[1] == '?') {
				_, o := parseOption(name, body)
				sp.short[body[0]] = o
				continue
			}
			// A cluster of flags, all with the role after "!" if any.
			letters, role, _ := strings.Cut(body, "!")
			o := option{}
			if role != "" {
				o.flagRole = checkRoles(name, role)[0]
			}
			for i := 0; i < len(letters); i++ {
				if strings.IndexByte(":?!", letters[i]) >= 0 {
					panic(fmt.Sprintf("shellfacts: spec of %s: bad token %q", name, tok))
				}
				sp.short[letters[i]] = o
			}
		default:
			panic(fmt.Sprintf("shellfacts: spec of %s: bad token %q", name, tok))
		}
	}
	return sp
}

func parseOption(cmd, tok string) (string, option) {
	if n, r, ok := strings.Cut(tok, "!"); ok {
		return n, option{flagRole: checkRoles(cmd, r)[0]}
	}
	n, r, ok := strings.Cut(tok, ":")
	if !ok {
		return tok, option{}
	}
	o := option{roles: string(checkRoles(cmd, r))}
	if strings.HasSuffix(n, "?") {
		n, o.optional = n[:len(n)-1], true
	}
	return n, o
}

func checkRoles(cmd, r string) []byte {
	if r == "" {
		panic("shellfacts: spec of " + cmd + ": empty role")
	}
	for i := 0; i < len(r); i++ {
		if !strings.ContainsRune("vrwxcnu", rune(r[i])) {
			panic(fmt.Sprintf("shellfacts: spec of %s: unknown role %q", cmd, r[i]))
		}
	}
	return []byte(r)
}

// operandRole is the role of the i-th operand (from 0); last says it is
// the last one, value is its text.
func (sp *spec) operandRole(i int, last bool, value string) byte {
	switch sp.operands {
	case "r", "w", "v":
		return sp.operands[0]
	case "rw":
		switch i {
		case 0:
			return 'r'
		case 1:
			return 'w'
		}
		return 'u'
	case "Rw":
		if last && i > 0 {
			return 'w'
		}
		return 'r'
	case "vw":
		if i == 0 {
			return 'v'
		}
		return 'w'
	case "date":
		if strings.HasPrefix(value, "+") {
			return 'v'
		}
		return 'u'
	}
	return 'u'
}

// operandRoles lists every role an operand may have, for an argument
// whose value (and number of words) is only known at run time.
func (sp *spec) operandRoles() string {
	switch sp.operands {
	case "r", "w", "v":
		return sp.operands
	case "rw":
		return "rwu"
	case "Rw", "vw":
		return "rvw"
	}
	return "u"
}

// optionRoles lists every role an option of sp may have (flag roles and
// value roles), for an argument that may turn out to be any option.
func (sp *spec) optionRoles() string {
	var b strings.Builder
	add := func(o option) {
		if o.flagRole != 0 {
			b.WriteByte(o.flagRole)
		}
		b.WriteString(o.roles)
	}
	for _, o := range sp.short {
		add(o)
	}
	for _, o := range sp.long {
		add(o)
	}
	if sp.gnu || len(sp.long) > 0 {
		// An unknown option is an error for the program, not an
		// effect; but "--" may end the options early.
		b.WriteByte('v')
	}
	return b.String()
}

// lookupLong finds a long option by its full name or, for GNU tools, by a
// prefix that names exactly one option (as getopt_long does).
func (sp *spec) lookupLong(name string) (option, bool) {
	if o, ok := sp.long[name]; ok {
		return o, true
	}
	if !sp.gnu || name == "" {
		return option{}, false
	}
	var found option
	n := 0
	for k, o := range sp.long {
		if strings.HasPrefix(k, name) {
			found = o
			n++
		}
	}
	return found, n == 1
}

// knows reports whether s is an option (or cluster of options) of sp.
func (sp *spec) knows(s string) bool {
	if strings.HasPrefix(s, "--") {
		name, _, _ := strings.Cut(s[2:], "=")
		_, ok := sp.lookupLong(name)
		return ok
	}
	for i := 1; i < len(s); i++ {
		o, ok := sp.short[s[i]]
		if !ok {
			return false
		}
		if o.roles != "" {
			return true
		}
	}
	return len(s) > 1
}
