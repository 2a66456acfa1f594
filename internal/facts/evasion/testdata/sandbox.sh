#!/bin/sh
# Runs shell command lines the way a shell tool would, to see what they
# really do: which commands run and which files change. Started by
# shell_test.go inside new mount, PID and network namespaces
# (unshare -m -p -f -n), so nothing here reaches the host: every case runs
# in a chroot on an overlay of / whose writes land in a tmpfs, with its own
# /dev (no disks), a read-only /proc, PID, UTS and IPC namespaces, no
# network, and no capabilities.
#
# The real root is made read-only first, so that not even an escape from
# the chroot could write to the host.
#
# $1 is the fixture directory made by the test: bin/ (harmless stand-ins
# for the payloads the cases try to run, first in PATH), work/ (the
# working directory), home/, and cases/N (one command line each). Each
# case runs under strace, which records every program started. For each
# case it prints "=== N", the programs started ("--- ran", execve lines),
# the files the case created, changed or removed anywhere ("--- wrote"),
# and its output ("--- output", each line prefixed with "| ").
set -u
T=$1
S=$(mktemp -d /tmp/sandbox.XXXXXX)
mount --make-rprivate /
mount -t tmpfs sandbox "$S"
mount -o remount,bind,ro /
run_case() {
	c=$1
	n=${c##*/}
	mkdir -p "$S/$n/u" "$S/$n/w" "$S/$n/m"
	m=$S/$n/m
	mount -t overlay overlay -o "lowerdir=/,upperdir=$S/$n/u,workdir=$S/$n/w" "$m"
	mount -t tmpfs dev "$m/dev"
	mknod -m 666 "$m/dev/null" c 1 3
	mknod -m 666 "$m/dev/zero" c 1 5
	mknod -m 666 "$m/dev/urandom" c 1 9
	ln -s /proc/self/fd "$m/dev/fd"
	ln -s /proc/self/fd/0 "$m/dev/stdin"
	ln -s /proc/self/fd/1 "$m/dev/stdout"
	ln -s /proc/self/fd/2 "$m/dev/stderr"
	# The case runs as root (so that what it would write, it writes) but
	# with no capabilities at all and no way to gain them (no_new_privs):
	# it cannot set the clock, load modules, reboot, make device nodes,
	# mount, or chroot out. It has its own PID, UTS (host name), IPC and
	# mount namespaces, and /proc is read-only, so that /proc/sys and
	# /proc/sysrq-trigger, which root may write by their file modes alone,
	# are out of reach.
	# A case that never ends (sleep, a loop) is killed after CASE_SECONDS,
	# with everything it started (the PID namespace dies with its first
	# process); what it did until then is still reported.
	timeout -s KILL "${CASE_SECONDS:-60}" \
	unshare -p --kill-child -m -u -i --propagation private sh -c '
		mount -t proc -o ro,nosuid,nodev,noexec proc "$1/proc" || exit 1
		m=$1; shift
		exec chroot "$m" /usr/bin/setpriv --no-new-privs --bounding-set -all --inh-caps -all --ambient-caps -all -- "$@"
	' sandbox "$m" \
		/usr/bin/strace -f -qq -e trace=execve -e signal=none -s 256 -o /dev/.trace \
		/usr/bin/env -i PATH="$T/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" HOME="$T/home" \
		/bin/bash -c 'cd "$1" && exec /bin/bash -c "$(/usr/bin/cat "$2")"' sandbox "$T/work" "$c" \
		</dev/null >"$S/$n/out" 2>&1
	{
	echo "=== $n"
	echo "--- ran"
	grep -E '^[0-9]+ +execve\(.* = 0$' "$m/dev/.trace"
	echo "--- wrote"
	# Everything in the upper layer was written, except directories
	# copied up to hold a written file; and anything new in /dev.
	(cd "$S/$n/u" && find . -mindepth 1 -print) | while IFS= read -r p; do
		p=${p#.}
		if [ -d "$S/$n/u$p" ] && [ ! -L "$S/$n/u$p" ] && [ -e "$p" ]; then
			continue
		fi
		echo "$p"
	done
	ls -A "$m/dev" | grep -vxE 'null|zero|urandom|fd|stdin|stdout|stderr|\.trace' | sed 's|^|/dev/|'
	echo "--- output"
	head -c 2000 "$S/$n/out" | sed 's/^/| /'
	echo
	} >"$S/reports/$n"
	umount -l "$m/dev"
	umount -l "$m"
	rm -rf "$S/$n"
}

# Cases run a few at a time: each spends most of its time starting
# processes, not on the CPU.
mkdir -p "$S/reports"
i=0
for c in "$T"/cases/*; do
	run_case "$c" &
	i=$((i + 1))
	[ $((i % ${PARALLEL:-4})) -eq 0 ] && wait
done
wait
cat "$S"/reports/*
echo "=== end"
