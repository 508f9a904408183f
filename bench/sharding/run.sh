#!/usr/bin/env bash
# Sharding benchmarks (so far: the ring). Balance (max/mean keys owned) and movement on a join
# (keys moved / the ideal 1/(N+1)) for N = 3, 10, 100: herd's ring beside dskit's algorithm
# (128 random tokens per member, as the Grafana Agent runs it) on the same keys, in one run.
#
#   bench/sharding/run.sh [keys (200000)] [herd tokens per member (default)]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build/default}
[ -x "$build/bin/herd_ring_bench" ] || { echo "bench: build first (scripts/build.sh)"; exit 1; }
"$build/bin/herd_ring_bench" "${1:-200000}" ${2:+"$2"}
