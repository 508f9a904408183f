#!/usr/bin/env bash
# Sink benchmark.
#  sink_prometheus: 10 000 scrape configs applied to a real Prometheus (Debian's 2.42): render,
#    promtool check, write and reload (confirmed) reported separately; then every config edited;
#    then the same set again (idempotent). Beside it, in the same run, the floor: the same 10 000
#    jobs written by hand into one file and reloaded with a bare POST /-/reload.
#  sink_files: 100 000 items, then 1 % of them changed, then the same set again: the time must
#    follow the change, not the total.
#
#   bench/sink/run.sh [configs (10000)] [files (100000)]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
configs=${1:-10000}
files=${2:-100000}
build=${BUILD:-$root/build/default}
bench=$build/bin/herd_sink_bench
plugins=$build/lib/herd/plugins
[ -x "$bench" ] || { echo "bench: build first (scripts/build.sh)"; exit 1; }
[ -x /usr/bin/prometheus ] || { echo "bench: run scripts/install-deps.sh"; exit 1; }

dir=$(mktemp -d)
cleanup() { [ -n "${prom_pid:-}" ] && kill "$prom_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'global:\n  scrape_interval: 1m\nscrape_configs:\n  - job_name: self\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' "$port" > "$dir/base.yml"
cp "$dir/base.yml" "$dir/prometheus.yml"
/usr/bin/prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
  --web.listen-address="127.0.0.1:$port" --web.enable-lifecycle > "$dir/prometheus.log" 2>&1 &
prom_pid=$!
for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break; sleep 0.05; done

# The floor: Prometheus reloading a hand-written file with the same jobs.
python3 - "$dir/floor.yml" "$configs" "$port" <<'PY'
import sys
path, n, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    f.write("global:\n  scrape_interval: 1m\nscrape_configs:\n  - job_name: self\n    static_configs: [{targets: ['127.0.0.1:%s']}]\n" % port)
    for i in range(n):
        f.write("  - job_name: job-%d\n    scrape_interval: 1m\n    static_configs:\n      - targets: ['127.0.0.1:1']\n        labels: {gen: '9'}\n" % i)
PY
cp "$dir/floor.yml" "$dir/prometheus.yml"
t0=$(date +%s.%N)
curl -fs -X POST "http://127.0.0.1:$port/-/reload"
t1=$(date +%s.%N)
floor=$(python3 -c "print($t1 - $t0)")
t0=$(date +%s.%N); /usr/bin/promtool check config "$dir/floor.yml" >/dev/null; t1=$(date +%s.%N)
promtool_floor=$(python3 -c "print($t1 - $t0)")
cp "$dir/base.yml" "$dir/prometheus.yml"
curl -fs -X POST "http://127.0.0.1:$port/-/reload"

"$bench" prometheus "$plugins" "$dir/base.yml" "$dir/prometheus.yml" "http://127.0.0.1:$port/-/reload" "$configs" > "$dir/prom.txt"
v() { awk -v k="$1" '$1 == k {print $2}' "$2"; }
printf '\nsink_prometheus, %s scrape configs (seconds)\n' "$configs"
printf '%-22s %8s %8s %8s %8s %8s\n' "apply" total render check write reload
for tag in first edit; do
  printf '%-22s %8.3f %8.3f %8.3f %8.3f %8.3f\n' "$tag" "$(v ${tag}_total $dir/prom.txt)" "$(v ${tag}_render $dir/prom.txt)" \
    "$(v ${tag}_check $dir/prom.txt)" "$(v ${tag}_write $dir/prom.txt)" "$(v ${tag}_reload $dir/prom.txt)"
done
printf '%-22s %8.3f\n' "same set again" "$(v same_total $dir/prom.txt)"
printf '%-22s %8.3f   (POST /-/reload of a hand-written file with the same jobs)\n' "floor: bare reload" "$floor"
printf '%-22s %8.3f   (promtool check config of that file)\n' "floor: promtool" "$promtool_floor"
printf 'herd reload / bare reload: %.2fx; herd apply (all phases) / (bare reload + promtool): %.2fx\n' \
  "$(python3 -c "print($(v first_reload $dir/prom.txt) / $floor)")" \
  "$(python3 -c "print($(v first_total $dir/prom.txt) / ($floor + $promtool_floor))")"

mkdir -p "$dir/files/out"
"$bench" files "$plugins" "$dir/files/out" "$files" 1 > "$dir/files.txt"
printf '\nsink_files, %s items (seconds)\n' "$files"
printf '%-28s %8.3f\n' "all new" "$(v full $dir/files.txt)" \
  "$(v changed $dir/files.txt) changed (1 %)" "$(v change $dir/files.txt)" "the same set again" "$(v same $dir/files.txt)"
printf 'change / all: %.3f (the change is %.3f of the items)\n' \
  "$(python3 -c "print($(v change $dir/files.txt) / $(v full $dir/files.txt))")" "0.01"
