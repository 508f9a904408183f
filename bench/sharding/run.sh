#!/usr/bin/env bash
# Sharding benchmarks (so far: the ring). Balance (max/mean keys owned) and movement on a join
# (keys moved / the ideal 1/(N+1)) for N = 3, 10, 100: herd's ring beside dskit's algorithm
# (128 random tokens per member, as the Grafana Agent runs it) on the same keys, in one run.
#
# Then the reshard on one member for 1k, 10k, 100k configs in a real etcd (Debian's 3.4): relist,
# ownership and the sink's time separately, beside the agent's refresh (List + a Get per key).
#
#   bench/sharding/run.sh [keys (200000)] [herd tokens per member (default)]
#   CONFIGS="1000 10000" bench/sharding/run.sh    (the config counts of the reshard part)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build/default}
[ -x "$build/bin/herd_ring_bench" ] || { echo "bench: build first (scripts/build.sh)"; exit 1; }
"$build/bin/herd_ring_bench" "${1:-200000}" ${2:+"$2"}

echo
dir=$(mktemp -d)
cleanup() { [ -n "${etcd_pid:-}" ] && kill "$etcd_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cp=$(port); pp=$(port); url=http://127.0.0.1:$cp
/usr/bin/etcd --name bench --data-dir "$dir/etcd" --listen-client-urls "$url" --advertise-client-urls "$url" \
  --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
  --initial-cluster "bench=http://127.0.0.1:$pp" --quota-backend-bytes=4294967296 > "$dir/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 1 100); do curl -fs "$url/health" | grep -q true && break; sleep 0.1; done
echo "reshard on one member of 10 (seconds); ratio = the agent's refresh / (herd's relist + ownership)"
# shellcheck disable=SC2086
"$build/bin/herd_reshard_bench" "$build/lib/herd/plugins" "$url" "$dir/work" ${CONFIGS:-1000 10000 100000}
