// Package shellfacts classifies shell command lines: which commands would
// run (through pipes, lists, subshells, substitutions, wrappers such as sudo
// or xargs, and strings handed to sh -c), where output is redirected, and
// whether the line touches the network, destroys data or depends on values
// only known at run time. It parses with mvdan.cc/sh and never executes.
package shellfacts

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"

	"github.com/toolgate/toolgate/internal/facts"
)

// Name is the key of these facts under context.facts.
const Name = "shell"

func init() {
	facts.Register(Name, facts.Kind{
		New:        func(o facts.Options) (facts.Classifier, error) { return New(o) },
		Merge:      Merge,
		Unanalysed: zero,
	})
}

// Limits on nested analysis: shell strings inside shell strings, wrappers
// inside wrappers. Real command lines stay far below them; past them the
// line is reported as parse_error rather than half-analysed.
const (
	maxDepth      = 4
	maxCommands   = 4096
	maxWrappers   = 16
	maxBraceWords = 4096
	// maxGroups bounds "(" and "`" in a line: the parser and the tree walk
	// slow down with nesting depth (a 64 KiB line of "$(" takes seconds),
	// and no real command line nests this much.
	maxGroups = 1024
)

// parsers reuses parsers, which are large; a Parser is not safe for
// concurrent use but may parse again once a Parse has returned.
var parsers = sync.Pool{New: func() any { return syntax.NewParser(syntax.Variant(syntax.LangBash)) }}

// Classifier is the shell classifier.
type Classifier struct{ opts facts.Options }

// New builds a shell classifier.
func New(opts facts.Options) (*Classifier, error) {
	return &Classifier{opts: opts.WithDefaults()}, nil
}

// Name implements facts.Classifier.
func (c *Classifier) Name() string { return Name }

// Classify implements facts.Classifier.
func (c *Classifier) Classify(line string) facts.Facts {
	return facts.Run(c.opts, line, zero, func(b *facts.Budget) facts.Facts {
		if strings.IndexByte(line, 0) >= 0 {
			return facts.Fail(zero(), "NUL byte in command line")
		}
		if strings.IndexByte(line, '\r') >= 0 {
			// bash takes a carriage return as an ordinary character; the
			// parser takes "\\\r\n" as a line continuation, which would
			// hide the next line's command (and a here-document's "EOF\r"
			// as its end).
			return facts.Fail(zero(), "carriage return in command line")
		}
		if strings.Count(line, "(")+strings.Count(line, "`") > maxGroups {
			return facts.Fail(zero(), fmt.Sprintf("more than %d parentheses and backquotes; too complex to analyse", maxGroups))
		}
		a := &analyser{budget: b}
		if err := a.parse(line, 0); err != nil {
			return facts.Fail(zero(), err.Error())
		}
		if a.err != nil {
			return facts.Fail(zero(), a.err.Error())
		}
		return a.facts()
	})
}

type analyser struct {
	budget *facts.Budget
	err    error
	src    string

	commands, redirects, networkTools, destructiveCmds, unknownCmds []string

	// scopes are the variables of the shell texts being analysed, the
	// innermost last.
	scopes []*scope

	writesFiles, substitution, background, dynamic bool
	network, destructive, pipesToShell, inlineCode bool

	// pipedInto marks calls whose standard input is another command's
	// output, to tell "curl … | sh" from a plain "sh".
	pipedInto map[*syntax.CallExpr]bool
}

func (a *analyser) facts() facts.Facts {
	return facts.Facts{
		"commands":             facts.SortedSet(a.commands),
		"redirects":            facts.SortedSet(a.redirects),
		"writes_files":         a.writesFiles,
		"substitution":         a.substitution,
		"background":           a.background,
		"dynamic":              a.dynamic,
		"network":              a.network,
		"network_tools":        facts.SortedSet(a.networkTools),
		"destructive":          a.destructive,
		"destructive_commands": facts.SortedSet(a.destructiveCmds),
		"pipes_to_shell":       a.pipesToShell,
		"inline_code":          a.inlineCode,
		"unknown":              len(a.unknownCmds) > 0,
		"unknown_commands":     facts.SortedSet(a.unknownCmds),
		"parse_error":          false,
	}
}

// zero is the answer for a line that was not analysed: it may run anything.
func zero() facts.Facts {
	f := (&analyser{}).facts()
	f["dynamic"] = true
	f["destructive"] = true
	f["unknown"] = true
	return f
}

var mergeRules = facts.Rules{
	"commands": facts.Union, "redirects": facts.Union, "network_tools": facts.Union,
	"destructive_commands": facts.Union, "writes_files": facts.Any, "substitution": facts.Any,
	"background": facts.Any, "dynamic": facts.Any, "network": facts.Any, "destructive": facts.Any,
	"pipes_to_shell": facts.Any, "inline_code": facts.Any, "unknown": facts.Any,
	"unknown_commands": facts.Union, "parse_error": facts.Any,
}

// Merge combines the facts of several shell arguments of one call.
func Merge(fs []facts.Facts) facts.Facts {
	return facts.MergeWith(mergeRules, func() facts.Facts { return (&analyser{}).facts() }, fs)
}

func (a *analyser) parse(src string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("shell strings nested more than %d deep", maxDepth)
	}
	p := parsers.Get().(*syntax.Parser)
	f, err := p.Parse(strings.NewReader(src), "")
	parsers.Put(p)
	if err != nil {
		return fmt.Errorf("shell: %v", err)
	}
	if a.pipedInto == nil {
		a.pipedInto = map[*syntax.CallExpr]bool{}
	}
	// Positions in the tree are offsets into src; nested strings have
	// their own, so the outer source comes back when this one is done.
	outer := a.src
	a.src = src
	// Each shell text has its own variables (a child shell sees only
	// what it inherits from the environment).
	a.scopes = append(a.scopes, a.collect(f))
	defer func() {
		a.src = outer
		a.scopes = a.scopes[:len(a.scopes)-1]
	}()
	syntax.Walk(f, func(n syntax.Node) bool {
		if a.err != nil {
			return false
		}
		if a.budget.Spend(1) {
			a.err = errors.New(facts.ErrSteps)
			return false
		}
		a.arithCheck(n)
		switch n := n.(type) {
		case *syntax.Stmt:
			if n.Background || n.Coprocess || n.Disown {
				a.background = true
			}
			for _, r := range n.Redirs {
				a.redirect(r)
			}
			if call, ok := n.Cmd.(*syntax.CallExpr); ok {
				a.call(call, n, depth)
			}
		case *syntax.BinaryCmd:
			if n.Op == syntax.Pipe || n.Op == syntax.PipeAll {
				a.markPiped(n.Y)
			}
		case *syntax.CmdSubst:
			a.substitution = true
		case *syntax.ProcSubst:
			a.substitution = true
		case *syntax.CoprocClause:
			a.background = true
			a.commands = append(a.commands, "coproc")
		case *syntax.DeclClause:
			a.commands = append(a.commands, n.Variant.Value)
			for _, as := range n.Args {
				a.assign(as)
			}
		case *syntax.LetClause:
			a.commands = append(a.commands, "let")
		case *syntax.TimeClause:
			a.commands = append(a.commands, "time")
		case *syntax.Assign:
			a.assign(n)
		case *syntax.ForClause:
			// for PATH in /tmp; do ls; done assigns PATH.
			if wi, ok := n.Loop.(*syntax.WordIter); ok && wi.Name != nil {
				a.variable(wi.Name.Value)
			}
		case *syntax.ParamExp:
			if n.Excl {
				// ${!name} reads a variable whose name is in another.
				a.dynamic = true
			}
		}
		return true
	})
	return a.err
}

// markPiped records the commands that read a pipe: the simple command on
// the right of "|", or every command of a group or subshell there.
func (a *analyser) markPiped(s *syntax.Stmt) {
	if s == nil {
		return
	}
	switch c := s.Cmd.(type) {
	case *syntax.CallExpr:
		a.pipedInto[c] = true
	case *syntax.Block:
		for _, st := range c.Stmts {
			a.markPiped(st)
		}
	case *syntax.Subshell:
		for _, st := range c.Stmts {
			a.markPiped(st)
		}
	case *syntax.BinaryCmd:
		// In "a | b && c" only b reads the pipe, but in "a | { b; c; }"
		// both do; for "a | b || c" c runs only after b and may read what
		// b left, so mark both sides.
		a.markPiped(c.X)
		if c.Op != syntax.Pipe && c.Op != syntax.PipeAll {
			a.markPiped(c.Y)
		}
	}
}

// Variables that change which program a name runs or inject code into the
// programs that start: setting them makes the line's behaviour depend on
// more than its text.
var dangerousVars = map[string]bool{
	"PATH": true, "LD_PRELOAD": true, "LD_LIBRARY_PATH": true, "LD_AUDIT": true,
	"BASH_ENV": true, "ENV": true, "IFS": true, "PROMPT_COMMAND": true, "SHELLOPTS": true,
	"PS4": true, "BASHOPTS": true, "GIT_SSH_COMMAND": true, "GIT_EXEC_PATH": true,
	"DYLD_INSERT_LIBRARIES": true, "PYTHONSTARTUP": true, "PERL5OPT": true, "NODE_OPTIONS": true,
	"GIT_PAGER": true, "PAGER": true, "GIT_EXTERNAL_DIFF": true, "GIT_EDITOR": true, "EDITOR": true,
	"VISUAL": true, "GIT_ASKPASS": true, "SSH_ASKPASS": true, "GIT_SSH": true, "GIT_PROXY_COMMAND": true,
	"GIT_CONFIG_PARAMETERS": true, "GIT_CONFIG_COUNT": true, "GIT_CONFIG_GLOBAL": true, "GIT_CONFIG": true,
	"MANPAGER": true, "LESSOPEN": true, "LESSCLOSE": true, "BROWSER": true, "CDPATH": true, "GLOBIGNORE": true,
}

func (a *analyser) assign(as *syntax.Assign) {
	if as == nil || as.Name == nil {
		return
	}
	a.variable(as.Name.Value)
}

// variable judges an assignment to name. Programs read the environment
// (git runs GIT_PAGER, HOME says where its configuration is, curl honours
// http_proxy), and an assignment to a variable the shell imported from the
// environment changes what its children see, so assignments to names that
// look like environment variables (upper case, or *_proxy) are unknown
// unless they are known to be harmless.
func (a *analyser) variable(name string) {
	switch {
	case dangerousVars[name]:
		a.dynamic = true
	case harmlessVars[name] || strings.HasPrefix(name, "LC_"):
	case strings.ToUpper(name) == name || strings.HasSuffix(strings.ToLower(name), "_proxy"):
		a.notKnown(name + "=")
	}
}

// harmlessVars only change how programs format their output.
var harmlessVars = map[string]bool{
	"LANG": true, "LANGUAGE": true, "TZ": true, "TERM": true, "COLUMNS": true, "LINES": true,
	"NO_COLOR": true, "CLICOLOR": true, "CLICOLOR_FORCE": true, "GREP_COLORS": true, "LS_COLORS": true,
	"TIME_STYLE": true, "QUOTING_STYLE": true, "BLOCK_SIZE": true, "POSIXLY_CORRECT": true,
}

func (a *analyser) redirect(r *syntax.Redirect) {
	switch r.Op {
	case syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc:
		return
	case syntax.DplIn, syntax.DplOut:
		// >&2, <&0, >&- duplicate descriptors; >&file (bash) writes a file.
		if v, ok := staticWord(r.Word); ok && (v == "-" || isAllDigits(v)) {
			return
		}
	}
	target, ok := staticWord(r.Word)
	if !ok {
		a.dynamic = true
		target = a.wordSource(r.Word)
	}
	a.redirects = append(a.redirects, target)
	if strings.HasPrefix(target, "/dev/tcp/") || strings.HasPrefix(target, "/dev/udp/") {
		// bash opens a socket for these paths.
		a.network = true
		a.networkTools = append(a.networkTools, target[:8])
		return
	}
	switch r.Op {
	case syntax.RdrOut, syntax.AppOut, syntax.RdrClob, syntax.AppClob, syntax.RdrAll, syntax.RdrAllClob,
		syntax.AppAll, syntax.AppAllClob, syntax.RdrInOut, syntax.DplOut:
		switch target {
		case "/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd/1", "/dev/fd/2":
			return
		}
		a.writesFiles = true
		if isBlockDevice(target) {
			a.destructive = true
			a.destructiveCmds = append(a.destructiveCmds, ">"+target)
		}
	}
}

func isBlockDevice(p string) bool {
	for _, pre := range []string{"/dev/sd", "/dev/hd", "/dev/vd", "/dev/xvd", "/dev/nvme", "/dev/mmcblk", "/dev/disk", "/dev/mapper/", "/dev/md", "/dev/loop", "/dev/mem", "/dev/kmem", "/dev/port"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

func isAllDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// wordSource is the word as written, for reporting a target that is only
// known at run time. It slices the source rather than printing the word,
// which would cost time proportional to the word for every enclosing word
// and turn deeply nested substitutions quadratic.
func (a *analyser) wordSource(w *syntax.Word) string {
	if w == nil || len(w.Parts) == 0 {
		return ""
	}
	start, end := int(w.Pos().Offset()), int(w.End().Offset())
	if start < 0 || end > len(a.src) || start > end {
		return ""
	}
	return a.src[start:end]
}

// expandCfg expands words without an environment, without globbing and
// without running anything. "~name" is kept as written: the expander would
// otherwise look the user up in the system's user database.
var expandCfg = &expand.Config{Env: expand.FuncEnviron(func(name string) string {
	if name == "HOME" {
		return "~"
	}
	if rest, ok := strings.CutPrefix(name, "HOME "); ok {
		return "~" + rest
	}
	return ""
})}

// isStatic reports whether a word's value is fixed by its text: no
// parameter, command, arithmetic or process substitution, no unquoted
// glob or extended glob.
func isStatic(w *syntax.Word) bool {
	if w == nil {
		return false
	}
	for _, p := range w.Parts {
		if !staticPart(p, false) {
			return false
		}
	}
	return true
}

func staticPart(p syntax.WordPart, quoted bool) bool {
	switch p := p.(type) {
	case *syntax.Lit:
		if !quoted && strings.ContainsAny(p.Value, "*?[") && p.Value != "[" && p.Value != "[[" {
			// A glob chooses its words from the filesystem; "\*" is a
			// literal star but costs nothing to treat as a glob.
			return false
		}
		return true
	case *syntax.SglQuoted:
		return true
	case *syntax.DblQuoted:
		for _, q := range p.Parts {
			if !staticPart(q, true) {
				return false
			}
		}
		return true
	case *syntax.BraceExp:
		for _, e := range p.Elems {
			if !isStatic(e) {
				return false
			}
		}
		return true
	}
	return false
}

// staticWord returns a static word's value after quote removal.
func staticWord(w *syntax.Word) (string, bool) {
	if !isStatic(w) {
		return "", false
	}
	if lit := w.Lit(); lit != "" && !strings.ContainsAny(lit, "\\~{") {
		return lit, true
	}
	s, err := expand.Literal(expandCfg, w)
	if err != nil {
		return "", false
	}
	return s, true
}

// braceWords estimates how many words brace expansion makes of w, capped
// just above maxBraceWords, without expanding: "{a,b}{a,b}…" doubles with
// every group, and expanding first would be the denial of service.
func braceWords(w *syntax.Word) int {
	cp := *w
	if !syntax.SplitBraces(&cp) {
		return 1
	}
	return wordCount(&cp)
}

func wordCount(w *syntax.Word) int {
	n := 1
	for _, p := range w.Parts {
		br, ok := p.(*syntax.BraceExp)
		if !ok {
			continue
		}
		k := 0
		if br.Sequence {
			k = seqLen(br)
		} else {
			for _, e := range br.Elems {
				k += wordCount(e)
				if k > maxBraceWords {
					break
				}
			}
		}
		n *= max(k, 1)
		if n > maxBraceWords {
			return maxBraceWords + 1
		}
	}
	return n
}

func seqLen(br *syntax.BraceExp) int {
	if len(br.Elems) < 2 {
		return 1
	}
	from, err1 := strconv.ParseInt(br.Elems[0].Lit(), 10, 64)
	to, err2 := strconv.ParseInt(br.Elems[1].Lit(), 10, 64)
	if err1 != nil || err2 != nil {
		// Character ranges ({a..z}) span at most the byte range.
		return 256
	}
	step := int64(1)
	if len(br.Elems) > 2 {
		if s, err := strconv.ParseInt(br.Elems[2].Lit(), 10, 64); err == nil && s != 0 {
			step = s
		}
	}
	if step < 0 {
		step = -step
	}
	span := to - from
	if span < 0 {
		span = -span
	}
	if span/step >= maxBraceWords {
		return maxBraceWords + 1
	}
	return int(span/step) + 1
}

// arg is one argument after expansion; dyn marks an argument whose value
// is only known at run time (it may be several words, or none).
type arg struct {
	s   string
	dyn bool
}

// argv expands the words of a call: quote removal and brace expansion,
// which is where "{rm,-rf,/}" and "r”m" hide a command name.
func (a *analyser) argv(words []*syntax.Word) ([]arg, error) {
	out := make([]arg, 0, len(words))
	for _, w := range words {
		if !isStatic(w) {
			out = append(out, arg{s: a.wordSource(w), dyn: true})
			continue
		}
		n := braceWords(w)
		if n > maxBraceWords {
			return nil, fmt.Errorf("brace expansion would exceed %d words", maxBraceWords)
		}
		// Each word of the expansion is at most as long as the written
		// word: charge for the bytes before making them.
		if a.budget.Spend(n * (int(w.End().Offset()-w.Pos().Offset()) + 1)) {
			return nil, errors.New(facts.ErrSteps)
		}
		if lit := w.Lit(); lit != "" && !strings.ContainsAny(lit, "\\~{") {
			out = append(out, arg{s: lit})
			continue
		}
		fields, err := expand.Fields(expandCfg, w)
		if err != nil {
			return nil, err
		}
		for _, f := range fields {
			out = append(out, arg{s: f})
		}
	}
	return out, nil
}

func (a *analyser) call(c *syntax.CallExpr, st *syntax.Stmt, depth int) {
	if len(c.Args) == 0 {
		return
	}
	args, err := a.argv(c.Args)
	if err != nil {
		a.err = fmt.Errorf("shell: %v", err)
		return
	}
	a.command(args, st, a.pipedInto[c], depth, 0)
}

// command looks at one command and the commands it starts.
func (a *analyser) command(args []arg, st *syntax.Stmt, piped bool, depth, wrappers int) {
	if len(args) == 0 || a.err != nil {
		return
	}
	if len(a.commands) > maxCommands {
		a.err = fmt.Errorf("more than %d commands", maxCommands)
		return
	}
	if wrappers > maxWrappers {
		a.err = fmt.Errorf("more than %d nested wrapper commands", maxWrappers)
		return
	}
	if args[0].dyn {
		a.dynamic = true
		return
	}
	if args[0].s == "" {
		return
	}
	name, system := commandName(args[0].s)
	a.commands = append(a.commands, name)
	if !system {
		// A program given by path is whatever that file is, not the
		// system command of the same name.
		a.notKnown(name)
	}
	// The danger rules go by the base name even for a program given by
	// path, and case-insensitively (command lookup is case-sensitive on
	// Linux but not on the default macOS filesystem): they can only add
	// danger. What a command is known to do (the table) needs the exact
	// system command.
	base := path.Base(args[0].s)
	lname := strings.ToLower(base)
	rest := args[1:]

	if netTools[lname] || (lname == "git" && gitNetwork(rest)) {
		a.network = true
		a.networkTools = append(a.networkTools, name)
	}
	if isDestructive(lname, rest) {
		a.destructive = true
		a.destructiveCmds = append(a.destructiveCmds, name)
	}
	if fileWriters[lname] || (lname == "sed" && hasFlag(rest, "i", "in-place")) || (lname == "dd" && hasPrefixArg(rest, "of=")) {
		a.writesFiles = true
	}
	switch lname {
	case "eval":
		// eval runs its arguments as shell code; static arguments are
		// parsed here, but the line stays dynamic as documented.
		a.dynamic = true
		code := joinArgsArg(rest)
		if !code.dyn {
			a.shellString(code.s, st, depth)
		} else if strings.Contains(code.s, "$(") || strings.Contains(code.s, "`") {
			// eval "$(curl …)": downloaded code runs.
			a.pipesToShell = true
		}
		return
	case "source", ".":
		a.dynamic = true
		a.sourced(rest)
		return
	case "alias", "trap", "enable", "builtin", "command_not_found_handle":
		if lname == "builtin" && len(rest) > 0 {
			a.command(rest, st, piped, depth, wrappers+1)
			return
		}
		if lname == "trap" && len(rest) > 0 {
			// trap 'code' SIG runs code later.
			if !rest[0].dyn {
				a.shellString(rest[0].s, st, depth)
			}
		}
		a.dynamic = true
		return
	}
	if shells[lname] {
		a.shell(rest, st, piped, depth)
		return
	}
	if flag, ok := interpreters[lname]; ok {
		if flag == "" || hasFlag(rest, flag, flag) || hasArg(rest, "-Command", "-command", "eval", "--eval") {
			a.inlineCode = true
		}
		if piped && readsStdinProgram(rest) {
			a.pipesToShell, a.dynamic = true, true
		}
	}
	if lname == "env" {
		if s, ok := optionValue(rest, "S", "split-string"); ok {
			// env -S 'cmd args' splits its string into a command line.
			a.stringOrDynamic(s, st, depth)
			return
		}
	}
	if lname == "flock" || lname == "script" || lname == "sg" {
		if s, ok := optionValue(rest, "c", "command"); ok {
			a.stringOrDynamic(s, st, depth)
			return
		}
	}
	if lname == "sed" {
		// A sed program is code: GNU sed's e command and s///e flag run
		// shell commands, w writes files.
		a.inlineCode = true
	}
	if inner, ok := a.unwrap(lname, rest); ok {
		if lname == "chroot" || lname == "nsenter" || lname == "unshare" || lname == "firejail" || lname == "busybox" {
			// The command runs in another root or namespace, or is an
			// applet of another program: not the system command the
			// name says.
			a.notKnown(name)
		}
		if len(inner) == 0 && (lname == "sudo" || lname == "doas") &&
			(hasFlag(rest, "s", "shell") || hasFlag(rest, "i", "login")) {
			// sudo -s / sudo -i with no command: a root shell reading
			// standard input.
			a.stdinProgram(st, piped, depth)
			return
		}
		a.command(inner, st, piped, depth, wrappers+1)
		return
	}
	switch lname {
	case "find":
		a.find(name, rest, st, depth, wrappers)
		return
	case "git":
		if system {
			a.git(name, rest, st, depth)
			return
		}
	case "xargs":
		inner := xargsCommand(rest)
		if len(inner) == 0 {
			inner = []arg{{s: "echo"}}
		}
		// xargs appends words read from its input, which may be flags.
		a.command(append(inner, arg{s: "<input>", dyn: true}), st, false, depth, wrappers+1)
	case "su", "runuser":
		// Options of su, runuser and ssh (-o ProxyCommand=…) may run
		// more than the command: their effect is not in the table.
		a.notKnown(name)
		if s, ok := optionValue(rest, "c", "command"); ok {
			a.stringOrDynamic(s, st, depth)
		} else {
			// Without -c, su starts the user's shell, which reads
			// its commands from standard input.
			a.stdinProgram(st, piped, depth)
		}
	case "ssh":
		// The remote command runs on another machine, but it still runs
		// on the agent's behalf.
		a.notKnown(name)
		if cmd := sshCommand(rest); len(cmd) > 0 {
			a.stringOrDynamic(joinArgsArg(cmd), st, depth)
		}
	case "watch":
		if len(rest) > 0 {
			if cmd := skipOptions(rest, watchOptsWithArg); len(cmd) > 0 {
				a.stringOrDynamic(joinArgsArg(cmd), st, depth)
			}
		}
	default:
		if sp := specs[base]; sp != nil && system {
			a.applySpec(name, sp, rest, st, depth)
		} else {
			a.notKnown(name)
		}
	}
}

func (a *analyser) stringOrDynamic(s arg, st *syntax.Stmt, depth int) {
	if s.dyn {
		a.dynamic = true
		return
	}
	a.shellString(s.s, st, depth)
}

// shellString parses code that a command will run as shell.
func (a *analyser) shellString(code string, st *syntax.Stmt, depth int) {
	if code == "" {
		return
	}
	if err := a.parse(code, depth+1); err != nil && a.err == nil {
		a.err = err
	}
}

// shell handles sh, bash and friends: "-c string" is parsed; a script
// file is unknown code; with neither, the shell reads its program from
// standard input: a pipe (pipes_to_shell) or a here-document.
func (a *analyser) shell(rest []arg, st *syntax.Stmt, piped bool, depth int) {
	cmd := false
	var operand *arg
	for i := 0; i < len(rest); i++ {
		r := rest[i]
		if r.dyn {
			a.dynamic = true
			if operand == nil {
				operand = &rest[i]
			}
			break
		}
		if r.s == "--" || r.s == "-" {
			if i+1 < len(rest) && r.s == "--" {
				operand = &rest[i+1]
			}
			break
		}
		if strings.HasPrefix(r.s, "-") || strings.HasPrefix(r.s, "+") {
			opt := strings.TrimLeft(r.s, "-+")
			if r.s == "-o" || r.s == "+o" || r.s == "-O" || r.s == "+O" || r.s == "--rcfile" || r.s == "--init-file" {
				i++
				continue
			}
			if strings.HasPrefix(r.s, "--") {
				continue
			}
			if strings.Contains(opt, "c") {
				cmd = true
			}
			if strings.Contains(opt, "s") {
				break
			}
			continue
		}
		operand = &rest[i]
		break
	}
	switch {
	case cmd:
		if operand == nil {
			a.dynamic = true
			return
		}
		if operand.dyn {
			a.dynamic = true
			if strings.Contains(operand.s, "$(") || strings.Contains(operand.s, "`") {
				// sh -c "$(curl …)": downloaded code runs.
				a.pipesToShell = true
			}
			return
		}
		a.shellString(operand.s, st, depth)
	case operand != nil:
		a.dynamic = true
		if strings.HasPrefix(operand.s, "<(") || strings.HasPrefix(operand.s, "/dev/fd/") || strings.HasPrefix(operand.s, "/proc/self/fd/") {
			a.pipesToShell = true
		}
	default:
		a.stdinProgram(st, piped, depth)
	}
}

// stdinProgram classifies the program a shell or interpreter reads from
// standard input.
func (a *analyser) stdinProgram(st *syntax.Stmt, piped bool, depth int) {
	if piped {
		a.pipesToShell, a.dynamic = true, true
		return
	}
	if st != nil {
		for _, r := range st.Redirs {
			switch r.Op {
			case syntax.Hdoc, syntax.DashHdoc:
				if body, ok := heredoc(r); ok {
					a.shellString(body, st, depth)
				} else {
					a.dynamic = true
				}
				return
			case syntax.WordHdoc:
				if isStatic(r.Word) {
					s, _ := staticWord(r.Word)
					a.shellString(s, st, depth)
				} else {
					a.dynamic = true
					if strings.Contains(a.wordSource(r.Word), "$(") {
						a.pipesToShell = true
					}
				}
				return
			case syntax.RdrIn:
				a.dynamic = true
				if w := a.wordSource(r.Word); strings.HasPrefix(w, "<(") {
					a.pipesToShell = true
				}
				return
			}
		}
	}
	// An interactive shell or one reading the caller's input: unknown.
	a.dynamic = true
}

func heredoc(r *syntax.Redirect) (string, bool) {
	if r.Hdoc == nil {
		return "", true
	}
	for _, p := range r.Hdoc.Parts {
		if _, ok := p.(*syntax.Lit); !ok {
			return "", false
		}
	}
	s, err := expand.Document(expandCfg, r.Hdoc)
	return s, err == nil
}

// sourced handles source and ".": the file is unknown code, and one that
// is another command's output is downloaded code.
func (a *analyser) sourced(rest []arg) {
	if len(rest) > 0 && (strings.HasPrefix(rest[0].s, "<(") || rest[0].s == "/dev/stdin" || strings.HasPrefix(rest[0].s, "/dev/fd/")) {
		a.pipesToShell = true
	}
}

func joinArgs(args []arg) string {
	ss := make([]string, 0, len(args))
	for _, x := range args {
		ss = append(ss, x.s)
	}
	return strings.Join(ss, " ")
}

func joinArgsArg(args []arg) arg {
	out := arg{s: joinArgs(args)}
	for _, x := range args {
		out.dyn = out.dyn || x.dyn
	}
	return out
}
