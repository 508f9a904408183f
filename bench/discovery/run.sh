#!/usr/bin/env bash
# Discovery propagation benchmark: how long a change in the cluster takes to change the proxy's
# backend set.
#  1. Kubernetes: watch event -> backend set, through sd_k8s, the host's discovery manager and the
#     proxy's BackendTable (1000 events by default; target p99 <= 100 ms). Debian's Prometheus is
#     built without kubernetes_sd, so no peer runs here.
#  2. Marathon, polled every 1 s on both sides: herd's sd_marathon vs Debian's Prometheus
#     marathon_sd against the same Marathon double, changes at random phases of the poll cycle.
#
#   bench/discovery/run.sh [k8s events (1000)] [marathon events (20)]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build/default}
bench=$build/bin/herd_propagation_bench
[ -x "$bench" ] || { echo "bench: build first (scripts/build.sh)"; exit 1; }
[ -x /usr/bin/prometheus ] || { echo "bench: run scripts/install-deps.sh"; exit 1; }
exec "$bench" "$build/lib/herd/plugins" "${1:-1000}" --marathon "${2:-20}"
