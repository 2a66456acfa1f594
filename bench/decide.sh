#!/usr/bin/env bash
# Decision latency with 10, 1,000 and 10,000 policies (one relevant), with
# toolgate's index and, as the baseline in the same run, cedar-go evaluating
# every policy. Prints the median over runs of each benchmark's p50 and p99,
# and the ratios the targets are stated in (docs/design.md, "Performance targets").
#   bench/decide.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test ./internal/policy/ -run '^$' -bench '^BenchmarkDecide$' -benchtime 200000x -count "$count" | tee -a "$out" >&2
go test ./internal/policy/ -run '^$' -bench '^BenchmarkDecideUnindexed$' -benchtime 300x -count "$count" | tee -a "$out" >&2
awk '
/^BenchmarkDecide/ {
  name=$1; sub(/-[0-9]+$/, "", name)
  for (i = 1; i <= NF; i++) { if ($i == "p50-ns") p50[name] = p50[name] " " $(i-1); if ($i == "p99-ns") p99[name] = p99[name] " " $(i-1) }
}
function median(s,   a, n, i, j, t) {
  n = split(s, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return a[int((n + 1) / 2)]
}
END {
  base = median(p50["BenchmarkDecide/policies=10"])
  printf "\n%-10s %14s %14s %18s %12s\n", "policies", "p50 (µs)", "p99 (µs)", "unindexed p50 (µs)", "p50 / p50@10"
  split("10 1000 10000", sizes, " ")
  for (k = 1; k <= 3; k++) {
    n = sizes[k]; key = "BenchmarkDecide/policies=" n; ukey = "BenchmarkDecideUnindexed/policies=" n
    printf "%-10s %14.1f %14.1f %18.1f %12.2f\n", n, median(p50[key]) / 1000, median(p99[key]) / 1000, median(p50[ukey]) / 1000, median(p50[key]) / base
  }
}' "$out"
