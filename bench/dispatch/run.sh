#!/usr/bin/env bash
# Dispatch benchmarks. First herd's dispatcher beside a model of Datadog's (the reference's
# algorithms) on the same 10 000 checks and 100 nodes, in one process: placement, a batch of new
# checks on fresh vs stale stats, a dead node's re-placement, one rebalance's moves vs the
# minimum, the cost of an up-to-date poll. Then herd at scale for real: 3 candidates on an etcd,
# 100 simulated node agents speaking the Datadog node API (fleet.py): time to a full assignment,
# a dead node's checks running elsewhere, the leader's CPU per node poll, leader failover and the
# checks it moved.
#
#   bench/dispatch/run.sh [checks (10000)] [nodes (100)]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build/default}
[ -x "$build/bin/herd_dispatch_bench" ] || { echo "bench: build first (scripts/build.sh)"; exit 1; }
"$build/bin/herd_dispatch_bench" "${1:-10000}" "${2:-100}"
echo
BUILD=$build python3 "$root/bench/dispatch/fleet.py" "${1:-10000}" "${2:-100}"
