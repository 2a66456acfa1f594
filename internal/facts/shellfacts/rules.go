package shellfacts

import "strings"

// The tables below are the judgement of this package: which programs reach
// the network, destroy data, start other programs or run code given on
// their command line. docs/facts.md lists them for policy authors.

var shells = map[string]bool{
	"sh": true, "bash": true, "zsh": true, "dash": true, "ksh": true, "mksh": true, "ash": true,
	"fish": true, "csh": true, "tcsh": true, "rbash": true, "yash": true, "posh": true, "oksh": true,
}

// interpreters maps a language runtime to the flag that gives it code on
// the command line.
var interpreters = map[string]string{
	"python": "c", "python2": "c", "python3": "c", "pypy": "c", "pypy3": "c",
	"perl": "e", "ruby": "e", "node": "e", "nodejs": "e", "bun": "e", "deno": "eval",
	"php": "r", "lua": "e", "luajit": "e", "rscript": "e", "osascript": "e",
	"pwsh": "c", "powershell": "c", "tclsh": "", "awk": "", "gawk": "", "mawk": "", "nawk": "",
}

func readsStdinProgram(rest []arg) bool {
	for _, r := range rest {
		if r.dyn {
			return false
		}
		if r.s == "-" {
			return true
		}
		if !strings.HasPrefix(r.s, "-") {
			return false
		}
		switch r.s {
		case "-c", "-e", "-E", "-m", "-r", "-p", "--eval", "-Command":
			return false
		}
	}
	return true
}

// netTools are programs whose purpose is to talk to other hosts.
var netTools = map[string]bool{
	"curl": true, "wget": true, "nc": true, "ncat": true, "netcat": true, "socat": true,
	"ssh": true, "scp": true, "sftp": true, "ftp": true, "tftp": true, "telnet": true,
	"nmap": true, "masscan": true, "dig": true, "nslookup": true, "host": true, "ping": true,
	"ping6": true, "traceroute": true, "tracepath": true, "mtr": true, "whois": true,
	"aria2c": true, "axel": true, "http": true, "https": true, "xh": true, "lynx": true,
	"links": true, "w3m": true, "elinks": true, "rsync": true, "rclone": true, "aws": true,
	"gcloud": true, "gsutil": true, "az": true, "gh": true, "openssl": true, "smbclient": true,
	"ldapsearch": true, "mosquitto_pub": true, "grpcurl": true, "websocat": true, "sshpass": true,
	"autossh": true, "tor": true, "torsocks": true, "proxychains": true, "proxychains4": true,
	"mysql": true, "psql": true, "redis-cli": true, "mongo": true, "mongosh": true,
}

func gitNetwork(rest []arg) bool {
	switch gitSub(rest) {
	case "clone", "fetch", "pull", "push", "ls-remote", "remote", "submodule", "archive", "send-email":
		return true
	}
	return false
}

// gitSub returns git's subcommand, after its global options.
func gitSub(rest []arg) string {
	for i := 0; i < len(rest); i++ {
		s := rest[i].s
		switch {
		case rest[i].dyn:
			return ""
		case s == "-C" || s == "-c" || s == "--git-dir" || s == "--work-tree" || s == "--namespace" || s == "--exec-path":
			i++
		case strings.HasPrefix(s, "-"):
		default:
			return s
		}
	}
	return ""
}

// hasFlag reports a short flag (alone or among combined short flags) or a
// long flag, before "--".
func hasFlag(rest []arg, short, long string) bool {
	for _, r := range rest {
		s := r.s
		if s == "--" {
			return false
		}
		if r.dyn {
			continue
		}
		if long != "" && (s == "--"+long || strings.HasPrefix(s, "--"+long+"=")) {
			return true
		}
		if short != "" && len(s) > 1 && s[0] == '-' && s[1] != '-' {
			if len(short) == 1 && strings.Contains(s[1:], short) {
				return true
			}
			if len(short) > 1 && (s[1:] == short || s == "--"+short) {
				return true
			}
		}
	}
	return false
}

func hasArg(rest []arg, vals ...string) bool {
	for _, r := range rest {
		for _, v := range vals {
			if r.s == v {
				return true
			}
		}
	}
	return false
}

func hasPrefixArg(rest []arg, prefix string) bool {
	for _, r := range rest {
		if strings.HasPrefix(r.s, prefix) {
			return true
		}
	}
	return false
}

func anyDyn(rest []arg) bool {
	for _, r := range rest {
		if r.dyn {
			return true
		}
	}
	return false
}

// alwaysDestructive programs exist to erase or overwrite data or to stop
// the machine.
var alwaysDestructive = map[string]bool{
	"shred": true, "srm": true, "wipe": true, "wipefs": true, "mkswap": true, "mke2fs": true,
	"fdisk": true, "sfdisk": true, "cfdisk": true, "parted": true, "gdisk": true, "sgdisk": true,
	"dd": true, "blkdiscard": true, "truncate": true, "shutdown": true, "reboot": true, "halt": true,
	"poweroff": true, "killall": true, "pkill": true, "userdel": true, "deluser": true,
	"groupdel": true, "lvremove": true, "vgremove": true, "pvremove": true, "dropdb": true,
	"format": true, "diskutil": true,
}

func isDestructive(name string, rest []arg) bool {
	if alwaysDestructive[name] || strings.HasPrefix(name, "mkfs") {
		return true
	}
	switch name {
	case "rm":
		// A glob or a run-time value may expand to "-rf" or "/": a file
		// named "-rf" in the directory turns "rm *" into "rm -rf …".
		return hasFlag(rest, "r", "recursive") || hasFlag(rest, "R", "") ||
			hasFlag(rest, "", "no-preserve-root") || anyDyn(rest) || hasArg(rest, "/", "~", ".", "..")
	case "chmod", "chown", "chgrp", "setfacl":
		return hasFlag(rest, "R", "recursive")
	case "find":
		return hasArg(rest, "-delete")
	case "mv":
		return hasArg(rest, "/dev/null")
	case "rsync":
		return hasPrefixArg(rest, "--delete") || hasArg(rest, "--remove-source-files")
	case "kill":
		return hasArg(rest, "-1")
	case "crontab":
		return hasFlag(rest, "r", "")
	case "iptables", "ip6tables", "nft", "ufw":
		return hasFlag(rest, "F", "flush") || hasArg(rest, "flush", "disable", "-X", "reset")
	case "systemctl", "service":
		return hasArg(rest, "stop", "disable", "mask", "kill", "poweroff", "reboot", "halt", "isolate")
	case "init", "telinit":
		return hasArg(rest, "0", "6")
	case "git":
		return gitDestructive(rest)
	case "docker", "podman", "nerdctl":
		return hasArg(rest, "rm", "rmi", "prune", "kill")
	case "kubectl", "oc":
		return hasArg(rest, "delete", "drain", "replace")
	case "helm":
		return hasArg(rest, "uninstall", "delete")
	case "terraform", "tofu":
		return hasArg(rest, "destroy") || hasPrefixArg(rest, "-auto-approve")
	case "aws":
		return hasArg(rest, "rm", "rb", "delete-bucket", "terminate-instances", "delete-db-instance")
	case "redis-cli":
		for _, r := range rest {
			if s := strings.ToLower(r.s); s == "flushall" || s == "flushdb" {
				return true
			}
		}
	case "cryptsetup":
		return hasArg(rest, "luksFormat", "erase", "luksErase")
	case "zfs", "zpool":
		return hasArg(rest, "destroy")
	}
	return false
}

func gitDestructive(rest []arg) bool {
	sub := gitSub(rest)
	switch sub {
	case "push":
		if hasFlag(rest, "f", "force") || hasPrefixArg(rest, "--force") || hasArg(rest, "--mirror", "--delete", "-d", "--prune") {
			return true
		}
		seen := false
		for _, r := range rest {
			if r.s == "push" && !seen {
				seen = true
				continue
			}
			if seen && (strings.HasPrefix(r.s, "+") || strings.HasPrefix(r.s, ":")) {
				// +ref forces, :ref deletes the remote branch.
				return true
			}
		}
	case "reset":
		return hasArg(rest, "--hard", "--merge", "--keep")
	case "clean":
		return hasFlag(rest, "f", "force")
	case "checkout", "switch":
		return hasFlag(rest, "f", "force") || hasArg(rest, "--discard-changes", ".", "--")
	case "restore":
		return !hasArg(rest, "--staged", "-S") || hasArg(rest, "--worktree", "-W")
	case "branch":
		return hasFlag(rest, "D", "") || (hasArg(rest, "--delete", "-d") && hasFlag(rest, "f", "force"))
	case "filter-branch", "filter-repo":
		return true
	case "reflog":
		return hasArg(rest, "expire", "delete")
	case "stash":
		return hasArg(rest, "drop", "clear")
	case "gc", "prune":
		return hasPrefixArg(rest, "--prune")
	case "update-ref":
		return hasFlag(rest, "d", "")
	}
	return false
}

// fileWriters create, change or remove files.
var fileWriters = map[string]bool{
	"tee": true, "cp": true, "mv": true, "install": true, "touch": true, "mkdir": true, "ln": true,
	"rm": true, "rmdir": true, "shred": true, "truncate": true, "patch": true, "tar": true,
	"unzip": true, "gunzip": true, "chmod": true, "chown": true, "chgrp": true, "rsync": true,
	"wget": true, "scp": true, "mkfifo": true, "mknod": true, "split": true, "csplit": true,
}

// wrapper describes a command that runs another one: its options that take
// a value, and how many operands come before the wrapped command.
type wrapper struct {
	withArg  map[string]bool
	operands int
	// writes are the options whose value is a file written (time -o);
	// writesOperand says the operands before the command are too
	// (flock's lock file).
	writes        map[string]bool
	writesOperand bool
}

func set(ss ...string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

var wrappers = map[string]wrapper{
	"sudo":        {withArg: set("-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-T", "-U", "--user", "--group", "--chdir", "--host", "--prompt", "--role", "--type", "--other-user", "--close-from", "--command-timeout")},
	"doas":        {withArg: set("-u", "-C")},
	"pkexec":      {withArg: set("--user")},
	"env":         {withArg: set("-u", "-C", "--unset", "--chdir")},
	"nohup":       {},
	"setsid":      {},
	"time":        {withArg: set("-f", "-o", "--format", "--output"), writes: set("-o", "--output")},
	"nice":        {withArg: set("-n", "--adjustment")},
	"ionice":      {withArg: set("-c", "-n", "--class", "--classdata")},
	"chrt":        {operands: 1},
	"taskset":     {operands: 1},
	"timeout":     {withArg: set("-s", "-k", "--signal", "--kill-after"), operands: 1},
	"stdbuf":      {withArg: set("-i", "-o", "-e", "--input", "--output", "--error")},
	"unbuffer":    {},
	"flock":       {withArg: set("-w", "-E", "--timeout", "--conflict-exit-code"), operands: 1, writesOperand: true},
	"chroot":      {withArg: set("--userspec", "--groups"), operands: 1},
	"strace":      {withArg: set("-o", "-e", "-p", "-s", "-u", "-E", "-P", "-a", "-b", "-I", "-O", "-S", "-X"), writes: set("-o")},
	"ltrace":      {withArg: set("-o", "-e", "-p", "-s", "-u", "-a", "-n", "-l", "-x", "-F", "-A", "-D"), writes: set("-o")},
	"exec":        {withArg: set("-a")},
	"command":     {},
	"busybox":     {},
	"caffeinate":  {withArg: set("-t", "-w")},
	"torsocks":    {withArg: set("-u", "-p", "-a", "-P")},
	"proxychains": {withArg: set("-f")}, "proxychains4": {withArg: set("-f")},
	"firejail":         {},
	"xvfb-run":         {withArg: set("-n", "-s", "-f", "-e", "-p", "--server-num", "--server-args", "--auth-file", "--error-file")},
	"nsenter":          {withArg: set("-t", "-S", "-G", "--target", "--setuid", "--setgid")},
	"unshare":          {},
	"valgrind":         {},
	"numactl":          {},
	"eatmydata":        {},
	"fakeroot":         {},
	"faketime":         {withArg: set("-f"), operands: 1},
	"catchsegv":        {},
	"rlwrap":           {},
	"dbus-run-session": {},
	"sshpass":          {withArg: set("-p", "-f", "-d", "-e")},
}

// unwrap returns the command a wrapper runs.
func (a *analyser) unwrap(name string, rest []arg) ([]arg, bool) {
	w, ok := wrappers[name]
	if !ok {
		return nil, false
	}
	if name == "command" && (hasArg(rest, "-v", "-V")) {
		// command -v only looks the name up.
		return nil, true
	}
	i := 0
	for ; i < len(rest); i++ {
		r := rest[i]
		if r.dyn {
			break
		}
		if r.s == "--" {
			i++
			break
		}
		if name == "env" && strings.Contains(r.s, "=") && !strings.HasPrefix(r.s, "-") {
			// env NAME=VALUE … cmd
			a.variable(r.s[:strings.IndexByte(r.s, '=')])
			continue
		}
		if len(r.s) < 2 || r.s[0] != '-' {
			break
		}
		opt, _, _ := strings.Cut(r.s, "=")
		if w.writes[opt] {
			a.writesFiles = true
		}
		if w.withArg[r.s] {
			i++
		}
	}
	for n := 0; n < w.operands && i < len(rest); n++ {
		if w.writesOperand {
			a.writesFiles = true
		}
		i++
	}
	if i >= len(rest) {
		return nil, true
	}
	return rest[i:], true
}

func skipOptions(rest []arg, withArg map[string]bool) []arg {
	for i := 0; i < len(rest); i++ {
		r := rest[i]
		if r.dyn {
			return rest[i:]
		}
		if r.s == "--" {
			return rest[i+1:]
		}
		if len(r.s) < 2 || r.s[0] != '-' {
			return rest[i:]
		}
		if withArg[r.s] {
			i++
		}
	}
	return nil
}

var watchOptsWithArg = set("-n", "--interval", "-q", "--equexit")

var xargsOptsWithArg = set("-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s", "--arg-file", "--delimiter",
	"--eof", "--replace", "--max-lines", "--max-args", "--max-procs", "--max-chars", "--process-slot-var")

func xargsCommand(rest []arg) []arg {
	return skipOptions(rest, xargsOptsWithArg)
}

var sshOptsWithArg = set("-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o",
	"-p", "-Q", "-R", "-S", "-W", "-w", "-B")

// sshCommand returns the remote command of an ssh invocation.
func sshCommand(rest []arg) []arg {
	after := skipOptions(rest, sshOptsWithArg)
	if len(after) < 2 {
		return nil
	}
	return after[1:]
}

// optionValue finds -X value, -Xvalue (X a single letter), --long value or
// --long=value anywhere in rest.
func optionValue(rest []arg, short, long string) (arg, bool) {
	for i, r := range rest {
		if r.dyn {
			continue
		}
		s := r.s
		switch {
		case s == "-"+short || (long != "" && s == "--"+long):
			if i+1 < len(rest) {
				return rest[i+1], true
			}
			return arg{}, false
		case long != "" && strings.HasPrefix(s, "--"+long+"="):
			return arg{s: s[len(long)+3:]}, true
		case len(s) > 2 && s[0] == '-' && s[1] != '-' && strings.HasSuffix(s, short) && short != "":
			// combined flags ending in the option: -lc 'cmd'
			if i+1 < len(rest) {
				return rest[i+1], true
			}
		}
	}
	return arg{}, false
}
