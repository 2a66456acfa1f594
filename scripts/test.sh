#!/usr/bin/env bash
# Runs toolgate's whole test suite, as CI does: installs the test
# dependencies, then gofmt, vet and staticcheck, then every Go test (end-to-end tests included,
# which must not skip: TOOLGATE_REQUIRE_DEPS=1). Each phase prints a line with its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
phase() { # phase NAME CMD...: run CMD, then print how long it took
  local name=$1 t=$SECONDS
  shift
  echo "== $name" >&2
  "$@"
  echo "== $name: done in $((SECONDS - t))s" >&2
}
gofmt_check() {
  local unformatted
  unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/node/*'))
  if [[ -n $unformatted ]]; then echo "gofmt needed on:" >&2; echo "$unformatted" >&2; return 1; fi
}
phase "test dependencies" scripts/test-deps.sh
export TOOLGATE_REQUIRE_DEPS=1
phase "gofmt" gofmt_check
phase "go vet ./..." go vet ./...
phase "staticcheck ./..." go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
phase "go test ./..." go test -count=1 -timeout 15m "$@" ./...
echo "== all phases passed in $((SECONDS - start))s" >&2
