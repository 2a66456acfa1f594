#!/usr/bin/env bash
# History recall with 1,000 earlier calls in the task: alone and while other
# tasks' calls are recorded and committed beside it (BenchmarkRecall,
# BenchmarkRecallUnderLoad in internal/history). Prints the median over runs
# of each benchmark's p50 and p99 (wall clock, and the CPU time of the
# recall's thread, which leaves out waiting for a CPU), against the target (docs/design.md,
# "Performance targets": p50 <= 10 us, p99 <= 100 us).
#   bench/history.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test ./internal/history/ -run '^$' -bench '^BenchmarkRecall' -benchtime 20000x -count "$count" | tee -a "$out" >&2
awk '
/^BenchmarkRecall/ {
  name=$1; sub(/-[0-9]+$/, "", name); names[name] = 1
  for (i = 1; i <= NF; i++) {
    if ($i == "p50-ns") p50[name] = p50[name] " " $(i-1); if ($i == "p99-ns") p99[name] = p99[name] " " $(i-1)
    if ($i == "cpu-p50-ns") c50[name] = c50[name] " " $(i-1); if ($i == "cpu-p99-ns") c99[name] = c99[name] " " $(i-1)
  }
}
function median(s,   a, n, i, j, t) {
  n = split(s, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return a[int((n + 1) / 2)]
}
END {
  printf "\n%-28s %10s %10s %14s %14s %8s\n", "benchmark", "p50 (µs)", "p99 (µs)", "CPU p50 (µs)", "CPU p99 (µs)", "target"
  for (n in names) {
    a = median(p50[n]) / 1000; b = median(p99[n]) / 1000
    printf "%-28s %10.1f %10.1f %14.1f %14.1f %8s\n", n, a, b, median(c50[n]) / 1000, median(c99[n]) / 1000, (a <= 10 && b <= 100) ? "met" : "not met"
  }
}' "$out"
