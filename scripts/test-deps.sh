#!/usr/bin/env bash
# Installs what toolgate's tests drive as real parts: MCP servers and the MCP
# conformance suite from npm (pinned in scripts/node/package-lock.json), and
# the PostgreSQL server binaries (the Debian package postgresql) and a
# headless browser for the console's tests (the Debian package chromium) when
# they are missing. Nothing is started here: each test binary that needs PostgreSQL
# runs its own server (initdb and pg_ctl in a temporary directory, on a free
# port; see internal/testutil/pgtest). Idempotent; safe to run before every
# test run.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "test-deps: '$1' is required but not installed ($2)" >&2; exit 1; }; }
need go "the Go toolchain"
need node "Node.js 20 or later"
need npm "npm, with Node.js"

# npm packages: reinstall only when the lock file changed.
stamp=scripts/node/node_modules/.toolgate-stamp
if [[ ! -f $stamp ]] || ! cmp -s scripts/node/package-lock.json "$stamp"; then
  echo "test-deps: installing npm packages (scripts/node)" >&2
  (cd scripts/node && npm ci --no-audit --no-fund --loglevel=error)
  cp scripts/node/package-lock.json "$stamp"
fi

# PostgreSQL server binaries, for the store conformance suites and the
# replica tests.
have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}
if ! have_pg; then
  need apt-get "the PostgreSQL server binaries (initdb, pg_ctl), or apt-get to install them"
  sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  echo "test-deps: installing PostgreSQL (Debian package postgresql)" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  have_pg || { echo "test-deps: postgresql is installed but initdb/pg_ctl were not found" >&2; exit 1; }
fi

# Chromium, for the console's end-to-end tests (driven with chromedp).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  need apt-get "chromium (for the console tests), or apt-get to install it"
  sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  echo "test-deps: installing Chromium (Debian package chromium)" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
  command -v chromium >/dev/null 2>&1 || { echo "test-deps: chromium is installed but not on PATH" >&2; exit 1; }
fi
