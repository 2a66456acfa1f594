#!/usr/bin/env bash
# Runs toolgate's whole test suite, as CI does: installs the test
# dependencies, then gofmt, vet and staticcheck, then every Go test (end-to-end tests included,
# which must not skip: TOOLGATE_REQUIRE_DEPS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
export TOOLGATE_REQUIRE_DEPS=1
echo "== gofmt" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/node/*'))
if [[ -n $unformatted ]]; then echo "gofmt needed on:" >&2; echo "$unformatted" >&2; exit 1; fi
echo "== go vet ./..." >&2
go vet ./...
echo "== staticcheck ./..." >&2
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
echo "== go test ./..." >&2
go test -count=1 -timeout 15m "$@" ./...
