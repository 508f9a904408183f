#!/usr/bin/env bash
# KV benchmark: put, get and CAS operations per second through herd's kv_etcd (the plugin driven
# through the ABI, as herd drives it) against the same etcd's JSON gateway driven directly by wrk
# (keep-alive connections, the same concurrency). The limit is etcd itself; the ratio says how
# close herd gets to it.
#
#   bench/kv/run.sh [seconds per run (5)] [concurrency (8)]     ROUNDS=3 alternating rounds per operation
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-5}
conc=${2:-8}
build=${BUILD:-$root/build/default}
bench=$build/bin/herd_kv_bench
[ -x "$bench" ] || { echo "bench: build first (scripts/build.sh)"; exit 1; }
command -v wrk >/dev/null && [ -x /usr/bin/etcd ] || { echo "bench: run scripts/install-deps.sh"; exit 1; }

dir=$(mktemp -d)
cleanup() { [ -n "${etcd_pid:-}" ] && kill "$etcd_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cp=$(port); pp=$(port); url=http://127.0.0.1:$cp
/usr/bin/etcd --name bench --data-dir "$dir/etcd" --listen-client-urls "$url" --advertise-client-urls "$url" \
  --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
  --initial-cluster "bench=http://127.0.0.1:$pp" > "$dir/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 1 100); do curl -fs "$url/health" | grep -q true && break; sleep 0.1; done

b64() { printf '%s' "$1" | base64 -w0; }
key=$(b64 "bench/key-0"); val=$(b64 "value")
curl -fs -X POST "$url/v3/kv/put" -d "{\"key\":\"$key\",\"value\":\"$val\"}" > /dev/null
lua() {  # body file -> wrk script posting it
  cat > "$dir/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$2'
LUA
}
lua put "{\"key\":\"$key\",\"value\":\"$val\"}"
lua get "{\"key\":\"$key\"}"
# A CAS on the gateway is one txn (compare + put) whose compare holds every time (mod_revision > 0):
# the same work as herd's successful CAS — a static request cannot carry the last revision.
lua cas "{\"compare\":[{\"key\":\"$key\",\"target\":\"MOD\",\"result\":\"GREATER\",\"mod_revision\":\"0\"}],\"success\":[{\"request_put\":{\"key\":\"$key\",\"value\":\"$val\"}}],\"failure\":[{\"request_range\":{\"key\":\"$key\"}}]}"
declare -A path=([put]=/v3/kv/put [get]=/v3/kv/range [cas]=/v3/kv/txn)

config="{\"endpoints\":[\"$url\"],\"prefix\":\"bench/\"}"
# etcd's own rate drifts during a run (its WAL and database grow with every write), so the two
# clients take turns: $rounds rounds of gateway then herd per operation, and the medians are compared.
rounds=${ROUNDS:-3}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-5s %14s %14s %8s   (%ss each, concurrency %s, median of %s alternating rounds)\n' op "gateway ops/s" "herd ops/s" ratio "$secs" "$conc" "$rounds"
for op in put get cas; do
  gws=(); hds=()
  for _ in $(seq 1 "$rounds"); do
    gws+=("$(wrk -t1 -c"$conc" -d"${secs}s" -s "$dir/$op.lua" "$url${path[$op]}" | awk '/Requests\/sec/ {print $2}')")
    # herd's CAS is a CAS loop's: a put guarded by the revision it last wrote, one txn per operation.
    hds+=("$("$bench" "$build/lib/herd/plugins" kv_etcd "$config" "$op" "$conc" "$secs")")
  done
  gw=$(printf '%s\n' "${gws[@]}" | median); hd=$(printf '%s\n' "${hds[@]}" | median)
  printf '%-5s %14.0f %14.0f %7.2fx   gateway %s, herd %s\n' "$op" "$gw" "$hd" "$(awk -v a="$hd" -v b="$gw" 'BEGIN{print a/b}')" \
    "$(printf '%.0f ' "${gws[@]}")" "$(printf '%.0f ' "${hds[@]}")"
done
