#!/usr/bin/env bash
# The sharding demo: three herds and three Prometheus servers on this machine, sharing the
# embedded store (one kv_sqlite file). Configs go in with curl through the Grafana Agent config
# API of any herd; one herd is killed; its share moves to the others by itself.
#
#   examples/sharding/run.sh          (after scripts/build.sh; everything on loopback, in a temp dir)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
herd=${HERD:-$root/build/default/bin/herd}
[ -x "$herd" ] || { echo "build first: scripts/build.sh"; exit 1; }
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
jobs_of() { python3 - "$1" <<'PY'
import sys, re
print(" ".join(sorted(re.findall(r"job_name: (\S+)", open(sys.argv[1]).read()))) or "(none)")
PY
}

declare -A admin prom
for n in 1 2 3; do
  mkdir -p "$dir/h$n"
  prom[$n]=$(port); admin[$n]=$(port)
  printf 'global:\n  scrape_interval: 15s\n' > "$dir/h$n/base.yml"
  cp "$dir/h$n/base.yml" "$dir/h$n/prometheus.yml"
  /usr/bin/prometheus --config.file="$dir/h$n/prometheus.yml" --storage.tsdb.path="$dir/h$n/tsdb" \
    --web.listen-address="127.0.0.1:${prom[$n]}" --web.enable-lifecycle > "$dir/h$n/prometheus.log" 2>&1 &
  pids+=($!)
  cat > "$dir/h$n/herd.toml" <<TOML
[host]
admin = "127.0.0.1:${admin[$n]}"
data_dir = "$dir/h$n/data"

[[kv]]
name = "fleet"
plugin = "kv_sqlite"
path = "$dir/fleet.sqlite"        # the embedded store, one file for the three herds

[[sink]]
name = "prom"
plugin = "sink_prometheus"
base = "$dir/h$n/base.yml"
output = "$dir/h$n/prometheus.yml"
reload_url = "http://127.0.0.1:${prom[$n]}/-/reload"

[[sharding]]
name = "scrape"
sink = "prom"
member_id = "herd-$n"
heartbeat = "1s"
heartbeat_timeout = "3s"
TOML
done
for n in 1 2 3; do
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:${prom[$n]}/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  "$herd" run -c "$dir/h$n/herd.toml" > "$dir/h$n/herd.log" 2>&1 &
  pids+=($!)
done
for n in 1 2 3; do
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:${admin[$n]}/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
done

echo "== putting 24 configs through the three herds' APIs (any member takes writes)"
for i in $(seq 1 24); do
  n=$(( (i % 3) + 1 ))
  curl -fs -X PUT --data-binary @- "http://127.0.0.1:${admin[$n]}/agent/api/v1/config/team-$i" >/dev/null <<YAML
scrape_configs:
  - job_name: team-$i
    static_configs: [{targets: ['127.0.0.1:9']}]
YAML
done
sleep 2
for n in 1 2 3; do echo "herd-$n's Prometheus runs: $(jobs_of "$dir/h$n/prometheus.yml")"; done
echo
"$herd" sharding -c "$dir/h1/herd.toml" ring
echo
echo "== killing herd-3 (SIGKILL: no goodbye); its lease expires after heartbeat_timeout (3 s)"
kill -9 "${pids[5]}"
sleep 5
for n in 1 2; do echo "herd-$n's Prometheus runs: $(jobs_of "$dir/h$n/prometheus.yml")"; done
echo
"$herd" sharding -c "$dir/h1/herd.toml" ring
echo
echo "status pages: http://127.0.0.1:${admin[1]}/status and http://127.0.0.1:${admin[2]}/status"
echo "(the demo stops and cleans up when you press Enter)"
if [ -t 0 ]; then read -r _; fi
