#!/usr/bin/env bash
# Installs what toolgate's tests drive as real parts: MCP servers and the MCP
# conformance suite from npm (pinned in scripts/node/package-lock.json).
# Idempotent; safe to run before every test run.
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
