package shellfacts

// specSource describes the commands whose every option and operand the
// classifier knows (notation in spec.go). Commands handled by their own
// code (shells, wrappers such as sudo or env, find, xargs, git, eval, …)
// are not here. For GNU tools the long options are complete, checked
// against the tools' own --help by TestSpecsCoverHelp, because getopt_long
// accepts any unique prefix of them.
var specSource = map[string]string{
	// Shell builtins that only print, test or move around.
	":":        "loose @v",
	"true":     "loose @v",
	"false":    "loose @v",
	"echo":     "-neE loose @v",
	"printf":   "-v:v @v",
	"test":     "loose @v",
	"[":        "loose @v",
	"cd":       "-LPe@ @v",
	"pwd":      "-LP @v",
	"exit":     "loose @v",
	"return":   "loose @v",
	"break":    "@v",
	"continue": "@v",
	"shift":    "loose @v",
	"wait":     "-nf -p:v @v",
	"set":      "-abefhkmnptuvxBCEHPT -o:v @v",
	"shopt":    "-supqo @v",
	"unset":    "-fvn @v",
	"read":     "-ers -a:v -d:v -i:v -n:v -N:v -p:v -t:v -u:v @v",
	"getopts":  "@v",
	"type":     "-afptP @v",
	"umask":    "-pS @v",
	"jobs":     "-lnprs @v",
	"sleep":    "--help --version @v gnu",

	// Read-only tools (GNU coreutils, grep, diffutils).
	"ls": `-1ABCDFGHLNQRSUXZabcdfghiklmnopqrstuvx -I:v -T:v -w:v gnu
		--all --almost-all --author --escape --block-size:v --ignore-backups --color?:v --classify?:v
		--file-type --format:v --full-time --group-directories-first --hide:v --hide-control-chars
		--hyperlink?:v --indicator-style:v --inode --ignore:v --kibibytes --literal --numeric-uid-gid
		--no-group --quote-name --quoting-style:v --reverse --recursive --show-control-chars --si --size
		--sort:v --time:v --time-style:v --tabsize:v --width:v --zero --context --dereference
		--dereference-command-line --dereference-command-line-symlink-to-dir --directory --dired
		--human-readable --help --version`,
	"cat": `-AETbenstuv gnu --show-all --number-nonblank --show-ends --number --squeeze-blank --show-tabs
		--show-nonprinting --help --version`,
	"head": `-qvz -c:v -n:v -# gnu --bytes:v --lines:v --quiet --silent --verbose --zero-terminated --help --version`,
	"tail": `-fFqvz -c:v -n:v -s:v -# gnu --bytes:v --follow?:v --lines:v --max-unchanged-stats:v --pid:v
		--quiet --retry --silent --sleep-interval:v --verbose --zero-terminated --help --version`,
	"wc": `-clmwL gnu --bytes --chars --lines --files0-from:r --max-line-length --words --total:v --help --version`,
	"grep": `-EFGPiyvwxcLlqsbHhnoIrRTUVZaz -A:v -B:v -C:v -D:v -d:v -e:v -f:r -m:v -# gnu
		--extended-regexp --fixed-strings --basic-regexp --perl-regexp --regexp:v --file:r --ignore-case
		--no-ignore-case --word-regexp --line-regexp --null-data --no-messages --invert-match --version
		--help --max-count:v --byte-offset --line-number --no-line-number --line-buffered --with-filename
		--no-filename --label:v --only-matching --quiet --silent --binary-files:v --text --directories:v
		--devices:v --recursive --dereference-recursive --include:v --exclude:v --exclude-from:r
		--exclude-dir:v --files-without-match --files-with-matches --count --initial-tab --null
		--before-context:v --after-context:v --context:v --group-separator:v --no-group-separator
		--color?:v --colour?:v --binary`,
	"sort": `-bdfgiMhnRrVcCmsuz -k:v -t:v -S:v -T:w -o:w gnu
		--ignore-leading-blanks --dictionary-order --ignore-case --general-numeric-sort --ignore-nonprinting
		--month-sort --human-numeric-sort --numeric-sort --random-sort --random-source:r --reverse
		--sort:v --version-sort --batch-size:v --check?:v --compress-program:x --debug --files0-from:r
		--key:v --merge --output:w --stable --buffer-size:v --field-separator:v --temporary-directory:w
		--parallel:v --unique --zero-terminated --help --version`,
	"uniq": `-cdDuiz -f:v -s:v -w:v @rw gnu --count --repeated --all-repeated?:v --skip-fields:v --group?:v
		--ignore-case --skip-chars:v --unique --zero-terminated --check-chars:v --help --version`,
	"cut": `-nsz -b:v -c:v -d:v -f:v gnu --bytes:v --characters:v --delimiter:v --fields:v --complement
		--only-delimited --output-delimiter:v --zero-terminated --help --version`,
	"tr":   `-cCdst @v gnu --complement --delete --squeeze-repeats --truncate-set1 --help --version`,
	"diff": diffSpec,
	"cmp": `-blsv -i:v -n:v gnu --print-bytes --ignore-initial:v --verbose --bytes:v --quiet --silent
		--help --version`,
	"comm": `-123z gnu --check-order --nocheck-order --output-delimiter:v --total --zero-terminated --help --version`,
	"join": `-iz -1:v -2:v -a:v -e:v -j:v -o:v -t:v -v:v gnu --ignore-case --check-order --nocheck-order
		--header --zero-terminated --help --version`,
	"paste": `-sz -d:v gnu --delimiters:v --serial --zero-terminated --help --version`,
	"stat":  `-Lft -c:v gnu --dereference --file-system --cached:v --format:v --printf:v --terse --help --version`,
	"du": `-0abDHklLmPSsxchz -B:v -d:v -t:v -X:r gnu --null --all --apparent-size --block-size:v --bytes
		--total --dereference-args --max-depth:v --human-readable --inodes --count-links --dereference
		--no-dereference --separate-dirs --si --summarize --threshold:v --time?:v --time-style:v
		--exclude-from:r --exclude:v --one-file-system --files0-from:r --help --version`,
	"df": `-ahHiklPTvx -B:v -t:v -x:v gnu --all --block-size:v --human-readable --si --inodes --local
		--no-sync --output?:v --portability --print-type --sync --total --type:v --exclude-type:v
		--help --version`,
	"basename": `-az -s:v @v gnu --multiple --suffix:v --zero --help --version`,
	"dirname":  `-z @v gnu --zero --help --version`,
	"date": `-uR -d:v -f:r -I?:v -r:r -s:u @date gnu --date:v --debug --file:r --iso-8601?:v --resolution
		--rfc-email --rfc-3339:v --reference:r --set:u --utc --universal --help --version`,
	"tac": `-br -s:v gnu --before --regex --separator:v --help --version`,
	"nl": `-p -b:v -d:v -f:v -h:v -i:v -l:v -n:v -s:v -v:v -w:v gnu --body-numbering:v
		--section-delimiter:v --footer-numbering:v --header-numbering:v --line-increment:v
		--join-blank-lines:v --number-format:v --no-renumber --number-separator:v
		--starting-line-number:v --number-width:v --help --version`,
	"fold":      `-bs -w:v -# gnu --bytes --spaces --width:v --help --version`,
	"seq":       `-w -f:v -s:v @v gnu --equal-width --format:v --separator:v --help --version`,
	"realpath":  `-eLmPqsz gnu --canonicalize-existing --canonicalize-missing --logical --physical --quiet --relative-to:v --relative-base:v --strip --no-symlinks --zero --help --version`,
	"readlink":  `-efmnqsvz gnu --canonicalize --canonicalize-existing --canonicalize-missing --no-newline --quiet --silent --verbose --zero --help --version`,
	"id":        `-agGnruzZ @v gnu --context --group --groups --name --real --user --zero --help --version`,
	"whoami":    `@v gnu --help --version`,
	"uname":     `-asnrvmpio @v gnu --all --kernel-name --nodename --kernel-release --kernel-version --machine --processor --hardware-platform --operating-system --help --version`,
	"md5sum":    sumSpec,
	"sha1sum":   sumSpec,
	"sha224sum": sumSpec,
	"sha256sum": sumSpec,
	"sha384sum": sumSpec,
	"sha512sum": sumSpec,
	"b2sum":     `-bctwz -l:v gnu --binary --check --length:v --tag --text --zero --ignore-missing --quiet --status --strict --warn --help --version`,
	"base64":    `-di -w:v gnu --decode --ignore-garbage --wrap:v --help --version`,
	"od": `-abcdfilosxv -A:v -j:v -N:v -S:v -t:v -w?:v gnu --address-radix:v --endian:v --skip-bytes:v
		--read-bytes:v --strings?:v --format:v --output-duplicates --width?:v --traditional --help --version`,
	"expand":   `-i -t:v -# gnu --initial --tabs:v --help --version`,
	"unexpand": `-a -t:v -# gnu --all --first-only --tabs:v --help --version`,
	"printenv": `-0 @v gnu --null --help --version`,
	"column": `-tdeLJxhV -n:v -O:v -N:v -l:v -E:v -H:v -R:v -T:v -W:v -r:v -i:v -p:v -c:v -o:v -s:v gnu
		--table --table-name:v --table-order:v --table-columns:v --table-columns-limit:v
		--table-noextreme:v --table-noheadings --table-header-repeat --table-hide:v --table-right:v
		--table-truncate:v --table-wrap:v --keep-empty-lines --json --tree:v --tree-id:v
		--tree-parent:v --output-width:v --output-separator:v --separator:v --fillrows --help --version`,
	"jq": `-nrjascCMSReh -f:r -L:r --arg:vv --argjson:vv --slurpfile:vr --rawfile:vr --args!v --jsonargs!v
		--tab --indent:v --seq --stream --stream-errors --slurp --raw-input --null-input --compact-output
		--raw-output --raw-output0 --join-output --ascii-output --sort-keys --color-output --monochrome-output
		--exit-status --from-file:r --version --help --unbuffered --build-configuration`,
	"which": `-as @v`,
	"file": `-0bcdEhiklLnNprsSv -zZ!u -e:v -F:v -m:r -f:r -P:v -C!u gnu --apple --brief --checking-printout
		--compile!u --debug --dereference --exclude:v --exclude-quiet:v --extension --files-from:r --help
		--keep-going --list --magic-file:r --mime --mime-encoding --mime-type --no-buffer --no-dereference
		--no-pad --no-sandbox --parameter:v --preserve-date --print0 --raw --separator:v --special-files
		--uncompress!u --uncompress-noreport!u --version`,
	"rg": `-abcFhHiIjlLnNopqsSuUvwx0. -z!u -A:v -B:v -C:v -e:v -E:v -f:r -g:v -j:v -m:v -M:v -r:v -t:v -T:v -d:v
		--after-context:v --before-context:v --context:v --regexp:v --encoding:v --file:r --glob:v --iglob:v
		--threads:v --max-count:v --max-columns:v --replace:v --type:v --type-not:v --max-depth:v
		--type-add:v --type-clear:v --ignore-file:r --sort:v --sortr:v --color:v --colors:v
		--context-separator:v --field-match-separator:v --field-context-separator:v --path-separator:v
		--max-filesize:v --dfa-size-limit:v --regex-size-limit:v --engine:v --hyperlink-format:v
		--pre:x --pre-glob:v --hostname-bin:x
		--text --count --count-matches --fixed-strings --files --files-with-matches --files-without-match
		--follow --hidden --ignore-case --smart-case --case-sensitive --invert-match --json --line-number
		--no-line-number --no-heading --heading --no-filename --with-filename --no-ignore --no-ignore-vcs
		--no-ignore-dot --no-ignore-global --no-ignore-parent --no-ignore-exclude --no-ignore-files
		--no-messages --null --null-data --only-matching --passthru --pretty --quiet --search-zip!u
		--stats --trim --unrestricted --vimgrep --word-regexp --line-regexp --multiline --multiline-dotall
		--pcre2 --column --byte-offset --crlf --no-config --one-file-system --glob-case-insensitive
		--line-buffered --block-buffered --mmap --no-mmap --binary --type-list --debug --trace --help
		--version --no-unicode --auto-hybrid-regex --sort-files --include-zero`,

	// Tools that write the files they are given.
	"tee":   `-aip gnu --append --ignore-interrupts --output-error?:v @w --help --version`,
	"touch": `-acfhm -d:v -r:r -t:v @w gnu --no-create --date:v --no-dereference --reference:r --time:v --help --version`,
	"mkdir": `-pvZ -m:v @w gnu --mode:v --parents --verbose --context?:v --help --version`,
	"rmdir": `-pv @w gnu --ignore-fail-on-non-empty --parents --verbose --help --version`,
	"rm": `-fiIdrRv @w gnu --force --interactive?:v --one-file-system --no-preserve-root --preserve-root?:v
		--recursive --dir --verbose --help --version`,
	"cp": `-aHLPRTZbdfilnprsuvx -S:v -t:w @Rw gnu --archive --attributes-only --backup?:v --copy-contents
		--dereference --force --interactive --link --no-clobber --no-dereference --preserve?:v
		--no-preserve:v --parents --recursive --reflink?:v --remove-destination --sparse:v
		--strip-trailing-slashes --suffix:v --symbolic-link --target-directory:w --no-target-directory
		--update?:v --verbose --keep-directory-symlink --one-file-system --context?:v --debug --help --version`,
	"mv": `-TZbfinuv -S:v -t:w @Rw gnu --backup?:v --force --interactive --no-clobber --no-copy
		--strip-trailing-slashes --suffix:v --target-directory:w --no-target-directory --update?:v
		--verbose --context --exchange --debug --help --version`,
	"ln": `-LPTbdfinrsv -S:v -t:w @Rw gnu --backup?:v --directory --force --interactive --logical
		--no-dereference --physical --relative --symbolic --suffix:v --target-directory:w
		--no-target-directory --verbose --help --version`,
	"chmod": `-cfvR @vw gnu --changes --silent --quiet --verbose --no-preserve-root --preserve-root
		--reference:r --recursive --help --version`,
}

const diffSpec = `-abBcdeEilnNpqrstTuvwyZ -x:v -C:v -D:v -F:v -I:v -L:v -S:v -U:v -W:v -X:r -# gnu
	--normal --brief --report-identical-files --context?:v --unified?:v --ed --rcs --side-by-side
	--width:v --left-column --suppress-common-lines --show-c-function --show-function-line:v --label:v
	--expand-tabs --initial-tab --tabsize:v --suppress-blank-empty --line-format:v
	--old-line-format:v --new-line-format:v --unchanged-line-format:v --old-group-format:v
	--new-group-format:v --unchanged-group-format:v --changed-group-format:v --ifdef:v --paginate
	--recursive --no-dereference --new-file --unidirectional-new-file --ignore-file-name-case
	--no-ignore-file-name-case --exclude:v --exclude-from:r --starting-file:v --from-file:r --to-file:r
	--ignore-case --ignore-tab-expansion --ignore-trailing-space --ignore-space-change --ignore-all-space
	--ignore-blank-lines --ignore-matching-lines:v --text --strip-trailing-cr --minimal
	--horizon-lines:v --speed-large-files --color?:v --palette:v --help --version`

const sumSpec = `-bctwz gnu --binary --check --tag --text --zero --ignore-missing --quiet --status --strict
	--warn --help --version`

var specs = func() map[string]*spec {
	m := make(map[string]*spec, len(specSource))
	for name, s := range specSource {
		m[name] = parseSpec(name, s)
	}
	return m
}()

// git's options before the subcommand. -c and --config-env set any
// configuration, including programs git runs (core.pager, core.fsmonitor,
// diff.external, aliases), so they are unknown.
var gitGlobal = parseSpec("git", `-pPv -C:v -c:u --git-dir:v --work-tree:v --namespace:v --no-pager
	--paginate --bare --no-replace-objects --literal-pathspecs --glob-pathspecs --noglob-pathspecs
	--icase-pathspecs --no-optional-locks --no-lazy-fetch --no-advice --config-env:u --exec-path?:u
	--html-path --man-path --info-path --super-prefix:u --list-cmds:v --version --help!u`)

// git's --help (of a subcommand, or "git help CMD") runs man or a web
// browser, so it is unknown; "git help" alone only prints.

// gitLogOptions are the options of log, show, whatchanged, shortlog and
// rev-list that only choose what to print (diff and revision options).
// --output writes a file; --ext-diff and --textconv run programs the
// configuration names; --show-signature runs gpg.
const gitLogOptions = `-# -puszwbiEFWRTat -n:v -U?:v -M?:v -C?:v -B?:v -S:v -G:v -O:r -L:v -X?:v
	--patch --no-patch --unified:v --raw --patch-with-raw --patch-with-stat --numstat --shortstat
	--dirstat?:v --cumulative --dirstat-by-file?:v --check --summary --name-only --name-status
	--stat?:v --stat-width:v --stat-name-width:v --stat-graph-width:v --stat-count:v --compact-summary
	--binary --full-index --color?:v --no-color --color-moved?:v --no-color-moved --color-words?:v
	--word-diff?:v --word-diff-regex:v --abbrev?:v --no-abbrev --src-prefix:v --dst-prefix:v
	--line-prefix:v --no-prefix --default-prefix --inter-hunk-context:v --function-context
	--break-rewrites?:v --find-renames?:v --no-renames --find-copies?:v --find-copies-harder
	--irreversible-delete --diff-filter:v --pickaxe-all --pickaxe-regex --minimal --patience
	--histogram --diff-algorithm:v --anchored:v --ignore-space-at-eol --ignore-space-change
	--ignore-all-space --ignore-blank-lines --ignore-cr-at-eol --ignore-matching-lines:v
	--indent-heuristic --no-indent-heuristic --exit-code --quiet --no-ext-diff --no-textconv
	--ignore-submodules?:v --relative?:v --no-relative --text --output:w
	--ext-diff!u --textconv!u --show-signature!u
	--oneline --pretty?:v --format:v --abbrev-commit --no-abbrev-commit --encoding:v --expand-tabs?:v
	--no-expand-tabs --notes?:v --no-notes --show-notes?:v --standard-notes --no-standard-notes
	--date:v --relative-date --graph --decorate?:v --no-decorate --decorate-refs:v
	--decorate-refs-exclude:v --clear-decorations --source --use-mailmap --no-use-mailmap --mailmap
	--no-mailmap --log-size --left-right --cherry-pick --cherry-mark --cherry --boundary
	--max-count:v --skip:v --since:v --after:v --until:v --before:v --since-as-filter:v --author:v
	--committer:v --grep:v --grep-reflog:v --all-match --invert-grep --regexp-ignore-case
	--basic-regexp --extended-regexp --fixed-strings --perl-regexp --remove-empty --merges --no-merges
	--min-parents:v --max-parents:v --no-min-parents --no-max-parents --first-parent --exclude-first-parent-only
	--not --all --branches?:v --tags?:v --remotes?:v --glob:v --exclude:v --reflog --single-worktree
	--alternate-refs --ignore-missing --bisect --stdin --cherry --walk-reflogs --merge --follow
	--full-diff --simplify-by-decoration --simplify-merges --ancestry-path?:v --full-history --dense
	--sparse --show-pulls --topo-order --date-order --author-date-order --reverse --no-walk?:v
	--do-walk --children --parents --count --objects --objects-edge --unpacked --timestamp
	--cc --combined-all-paths --dd --diff-merges:v --no-diff-merges --remerge-diff --show-linear-break?:v
	--cached --staged --no-index --merge-base --ours --theirs --base --summary --count --help!u`

// gitSubcommands are the subcommands that only read the repository, with
// their options; any other subcommand is unknown (it may change the
// repository, the working tree, or run hooks, editors and aliases).
var gitSubcommands = func() map[string]*spec {
	m := map[string]*spec{}
	for _, n := range []string{"log", "show", "diff", "whatchanged", "shortlog", "rev-list"} {
		extra := ""
		if n == "shortlog" {
			extra = " -c -e -n -s -w?:v --numbered --summary --email --committer --group:v"
		}
		m[n] = parseSpec("git "+n, gitLogOptions+extra)
	}
	for n, s := range map[string]string{
		"status": `-sbvuz -u?:v --short --branch --show-stash --porcelain?:v --long --verbose
			--untracked-files?:v --ignored?:v --ignore-submodules?:v --column?:v --no-column
			--ahead-behind --no-ahead-behind --renames --no-renames --find-renames?:v --null --help!u`,
		"rev-parse": `-q --abbrev-ref?:v --short?:v --verify --quiet --show-toplevel --git-dir
			--absolute-git-dir --git-common-dir --is-inside-work-tree --is-inside-git-dir
			--is-bare-repository --is-shallow-repository --show-prefix --show-cdup --show-superproject-working-tree
			--symbolic --symbolic-full-name --sq --sq-quote --not --all --branches?:v --tags?:v --remotes?:v
			--glob:v --exclude:v --default:v --prefix:v --revs-only --no-revs --flags --no-flags
			--local-env-vars --path-format:v --git-path:v --show-object-format?:v --show-ref-format
			--since:v --after:v --until:v --before:v --disambiguate:v --help!u`,
		"ls-files": `-cdmoiskuvftz -x:v -X:r --cached --deleted --modified --others --ignored --stage
			--killed --unmerged --directory --no-empty-directory --eol --deduplicate --exclude:v
			--exclude-from:r --exclude-per-directory:v --exclude-standard --error-unmatch --with-tree:v
			--full-name --recurse-submodules --abbrev?:v --debug --format:v --sparse --resolve-undo --help!u`,
		"ls-tree": `-drtlz --long --name-only --name-status --object-only --full-name --full-tree
			--abbrev?:v --format:v --help!u`,
		"blame": `-bcflnpstew -L:v -M?:v -C?:v -S:r --root --show-stats --progress --no-progress
			--score-debug --show-name --show-number --porcelain --line-porcelain --incremental
			--encoding:v --contents:r --date:v --reverse:v --first-parent --ignore-rev:v
			--ignore-revs-file:r --color-lines --color-by-age --abbrev?:v --minimal --since:v --help!u`,
		"describe": `--all --tags --contains --abbrev?:v --candidates:v --exact-match --debug --long
			--match:v --exclude:v --always --first-parent --dirty?:v --broken?:v --help!u`,
		"grep": `-abcEFGhHiIlLnopPqrvwWz -O!u -e:v -f:r -m:v -A:v -B:v -C:v -# --cached --untracked
			--no-index --no-exclude-standard --exclude-standard --recurse-submodules --text
			--ignore-case --max-depth:v --recursive --no-recursive --word-regexp --invert-match
			--full-name --extended-regexp --basic-regexp --perl-regexp --fixed-strings --line-number
			--column --files-with-matches --name-only --files-without-match --null --only-matching
			--count --color?:v --no-color --break --heading --show-function --context:v
			--after-context:v --before-context:v --function-context --threads:v --and --or --not
			--all-match --quiet --max-count:v --open-files-in-pager!u --textconv!u --no-textconv --help!u`,
		"cat-file": `-tsep --batch?:v --batch-check?:v --batch-command?:v --batch-all-objects --buffer
			--follow-symlinks --unordered --allow-unknown-type -Z -z --path:v --use-mailmap
			--no-use-mailmap --mailmap --no-mailmap --textconv!u --filters!u --help!u`,
		"show-ref": `-dsq --head --heads --branches --tags --verify --dereference --hash?:v --abbrev?:v
			--quiet --exclude-existing?:v --exists --help!u`,
		"branch": `-arlvi --all --remotes --list --verbose --ignore-case --no-color --no-column
			--contains?:v --no-contains?:v --merged?:v --no-merged?:v --sort:v --format:v --points-at:v
			--color?:v --column?:v --show-current --abbrev?:v --no-abbrev --omit-empty
			-dDmMcC!w -u:w --delete!w --move!w --copy!w --force!w --set-upstream-to:w
			--unset-upstream!w --track?:v --no-track --create-reflog --recurse-submodules
			--edit-description!u @w --help!u`,
		"tag": `-l -n?:v -i --list --ignore-case --sort:v --format:v --contains?:v --no-contains?:v
			--merged?:v --no-merged?:v --points-at:v --column?:v --no-column --color?:v --omit-empty
			-dfv!w -a!w -m:w -F:w -e!u -s!u -u:u --delete!w --verify!u --force!w --annotate!w
			--sign!u --local-user:u --message:w --file:w --edit!u --cleanup:v --create-reflog @w --help!u`,
		"remote": `-v --verbose @none --help!u`,
		"stash":  `@none`,
		"reflog": `@none`,
		"help": `-agcv --all --guides --config --verbose --no-external-commands --no-aliases -imw!u --info!u
			--man!u --web!u @none`,
		"version": `--build-options @v`,
	} {
		m[n] = parseSpec("git "+n, s)
	}
	return m
}()
