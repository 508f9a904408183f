#!/usr/bin/env bash
# Quick start: install what is needed, build, start two Prometheus replicas on loopback (the
# first a few seconds before the second, so it holds more data), and run herd in front of them
# with examples/quickstart.toml. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh default
herd=build/default/bin/herd
work=build/quickstart
mkdir -p "$work"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

start_replica() {  # port
  local dir=$work/prometheus-$1
  mkdir -p "$dir"
  cat > "$dir/prometheus.yml" <<YML
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$1']
YML
  /usr/bin/prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$1" > "$dir/prometheus.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$1/-/ready" && return 0; sleep 0.2; done
  echo "quickstart: Prometheus on port $1 did not start; see $dir/prometheus.log" >&2
  exit 1
}
echo "starting Prometheus replica 1 on 127.0.0.1:19091"
start_replica 19091
sleep 6  # replica 1 gets a head start, so single-most-data has a clear winner
echo "starting Prometheus replica 2 on 127.0.0.1:19092"
start_replica 19092

"$herd" plugins
"$herd" check -c examples/quickstart.toml
cat <<MSG

herd is starting in front of both replicas. Open:
  http://127.0.0.1:19090/graph        Prometheus through herd (every response names its replica in X-Herd-Backend)
  http://127.0.0.1:9095/status        proxies, backends and why each is (not) selected; discovery; plugins
  http://127.0.0.1:9095/metrics       herd_* metrics
Try: curl -si 'http://127.0.0.1:19090/api/v1/query?query=up' | grep -i herd
     kill one replica (pkill -f 127.0.0.1:19091) and query again: herd fails over without an error.
Ctrl-C stops herd and the replicas.

MSG
"$herd" run -c examples/quickstart.toml &
pids+=($!)
wait "${pids[-1]}"
