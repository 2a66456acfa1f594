#!/usr/bin/env bash
# Runs toolgate's whole test suite, as CI does: installs the test
# dependencies, checks gofmt, then runs go vet and staticcheck beside the Go
# tests (end-to-end tests included, which must not skip:
# TOOLGATE_REQUIRE_DEPS=1). Each phase prints a line with its duration; the
# script fails if any phase failed, after all of them ran.
#
#   scripts/test.sh [go test flags]     e.g. scripts/test.sh -run TestServe
#
# TOOLGATE_TEST_PKGS narrows the packages (default ./...), for trying the
# script itself on a few packages.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=${TOOLGATE_TEST_PKGS:-./...}
export TOOLGATE_REQUIRE_DEPS=1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
start=$SECONDS
failed=()

# took NAME START RC: the phase's line.
took() {
  local status=ok
  [[ $3 == 0 ]] || status=FAILED
  printf '== %-12s %-6s %4ds\n' "$1" "$status" $((SECONDS - $2)) >&2
}

t=$SECONDS
rc=0; scripts/test-deps.sh || rc=$?
took deps "$t" "$rc"
[[ $rc == 0 ]] || exit "$rc"

t=$SECONDS
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/node/*'))
rc=0; [[ -z $unformatted ]] || { echo "gofmt needed on:" >&2; echo "$unformatted" >&2; rc=1; }
took gofmt "$t" "$rc"
[[ $rc == 0 ]] || failed+=(gofmt)

# vet and staticcheck run beside the tests: they share the build cache, and
# on few cores the tests' waits (processes, servers, fsync) leave room.
# Both cache their results, so unchanged packages cost little on a re-run.
background() { # NAME CMD...: run CMD, log to $logs/NAME, record its status and time
  local name=$1; shift
  ( t=$SECONDS; rc=0; "$@" >"$logs/$name.log" 2>&1 || rc=$?
    echo "$rc $((SECONDS - t))" >"$logs/$name.done" ) &
}
background vet go vet $pkgs
background staticcheck go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $pkgs

t=$SECONDS
rc=0; go test -count=1 -timeout 15m "$@" $pkgs || rc=$?
took test "$t" "$rc"
[[ $rc == 0 ]] || failed+=(test)

wait
for name in vet staticcheck; do
  read -r rc secs <"$logs/$name.done"
  printf '== %-12s %-6s %4ds (beside the tests)\n' "$name" "$([[ $rc == 0 ]] && echo ok || echo FAILED)" "$secs" >&2
  if [[ $rc != 0 ]]; then
    cat "$logs/$name.log" >&2
    failed+=("$name")
  fi
done

printf '== %-12s %-6s %4ds\n' total "$([[ ${#failed[@]} == 0 ]] && echo ok || echo FAILED)" $((SECONDS - start)) >&2
if [[ ${#failed[@]} != 0 ]]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
