#!/usr/bin/env bash
# The dispatch demo: two leader candidates and three node herds on this machine, sharing the
# embedded store (one kv_sqlite file); each node writes its checks into its own conf.d directory
# (what a Datadog agent reads). Checks go in through the checks API; a datadog-agent's own
# request is answered; one node is killed and its checks move; the leader is killed and nothing
# moves.
#
#   examples/dispatch/run.sh          (after scripts/build.sh; everything on loopback, in a temp dir)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
herd=${HERD:-$root/build/default/bin/herd}
[ -x "$herd" ] || { echo "build first: scripts/build.sh"; exit 1; }
dir=$(mktemp -d)
declare -A pid admin
cleanup() { for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
token=demo-token
auth=(-H "Authorization: Bearer $token")
wait_ready() { for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$1/-/ready" >/dev/null 2>&1 && return; sleep 0.1; done; }
checks_of() { (cd "$dir/$1/conf.d" && find . -name '*.yaml' | sed 's|^\./||' | sort | tr '\n' ' '); }
timing='node_expiration = "3s"
poll_interval = "1s"
lease = "2s"'

for n in L1 L2 N1 N2 N3; do admin[$n]=$(port); done
for n in L1 L2; do
  mkdir -p "$dir/$n"
  cat > "$dir/$n/herd.toml" <<TOML
[host]
admin = "127.0.0.1:${admin[$n]}"
data_dir = "$dir/$n/data"

[[kv]]
name = "shared"
plugin = "kv_sqlite"
path = "$dir/shared.sqlite"     # the embedded store, one file for the candidates

[[dispatch]]
name = "checks"
role = "leader"
node_id = "$n"
token = "$token"
$timing
TOML
  "$herd" run -c "$dir/$n/herd.toml" > "$dir/$n/herd.log" 2>&1 &
  pid[$n]=$!
done
for n in N1 N2 N3; do
  mkdir -p "$dir/$n/conf.d"
  cat > "$dir/$n/herd.toml" <<TOML
[host]
admin = "127.0.0.1:${admin[$n]}"
data_dir = "$dir/$n/data"

[[sink]]
name = "conf-d"
plugin = "sink_files"
dir = "$dir/$n/conf.d"           # a Datadog agent's conf.d

[[dispatch]]
name = "checks"
role = "node"
node_id = "$n"
servers = ["127.0.0.1:${admin[L2]}", "127.0.0.1:${admin[L1]}"]   # any candidate: followers forward
token = "$token"
sink = "conf-d"
$timing
TOML
done
wait_ready "${admin[L1]}"; wait_ready "${admin[L2]}"
for n in N1 N2 N3; do "$herd" run -c "$dir/$n/herd.toml" > "$dir/$n/herd.log" 2>&1 & pid[$n]=$!; done
for n in N1 N2 N3; do wait_ready "${admin[$n]}"; done

echo "== who leads"
"$herd" dispatch -c "$dir/L1/herd.toml" leader
echo
echo "== 9 checks through the checks API (YAML, as a Datadog cluster-check file)"
for i in $(seq 1 9); do
  curl -fs "${auth[@]}" -X PUT --data-binary @- "http://127.0.0.1:${admin[L1]}/api/v1/dispatch/checks/checks/db-$i" >/dev/null <<YAML
check_name: postgres
init_config: {}
instances:
  - host: db-$i.internal
    port: 5432
YAML
done
sleep 3
for n in N1 N2 N3; do echo "$n runs: $(checks_of $n)"; done
echo
echo "== what a datadog-agent node agent would get (GET configs/N1, the first config)"
curl -fs "${auth[@]}" "http://127.0.0.1:${admin[L2]}/api/v1/clusterchecks/configs/N1" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(json.dumps(j["configs"][0])[:300], "...")'
echo
echo "== killing N3 (SIGKILL); after node_expiration (3 s) its checks move"
kill -9 "${pid[N3]}"; unset 'pid[N3]'
sleep 5
for n in N1 N2; do echo "$n runs: $(checks_of $n)"; done
echo
leader=$("$herd" dispatch -c "$dir/L1/herd.toml" leader | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().split("  term")[0])["id"])')
echo "== killing the leader ($leader, SIGKILL); the other candidate takes over and moves nothing"
before=$("$herd" dispatch -c "$dir/L1/herd.toml" assignments | cut -d' ' -f1-3)
kill -9 "${pid[$leader]}"; unset "pid[$leader]"
sleep 4
"$herd" dispatch -c "$dir/L1/herd.toml" leader
after=$("$herd" dispatch -c "$dir/L1/herd.toml" assignments | cut -d' ' -f1-3)
[ "$before" = "$after" ] && echo "assignments unchanged: zero checks moved" || { echo "assignments changed:"; diff <(echo "$before") <(echo "$after") || true; }
for n in N1 N2; do echo "$n runs: $(checks_of $n)"; done
echo
echo "(each herd's /status shows it: http://127.0.0.1:${admin[L1]}/status — press Enter to stop)"
[ -t 0 ] && read -r _ || true
