#!/usr/bin/env bash
# Proxy benchmark: direct to the backend, herd, nginx and HAProxy — one worker each, keep-alive
# upstream, the same static JSON backend — under wrk, in one run. Prints requests/s, p50, p99
# and the ratios herd/HAProxy and herd/nginx.
#
#   bench/proxy/run.sh [seconds per run (5)] [connections (32)] [rounds (7)]
#
# Everything runs on this machine; each peer is measured `rounds` times, interleaved in a rotating
# order, and the median round is reported. Besides requests/s and latency it reports each proxy's
# own CPU time per request (user + system, from /proc): on a small shared machine, throughput
# drifts with whatever else runs, while the CPU a proxy spends per request does not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-5}
conns=${2:-32}
rounds=${3:-7}
herd=${HERD:-$root/build/default/bin/herd}
for tool in nginx haproxy wrk; do
  command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] || { echo "bench: $tool missing (run scripts/install-deps.sh)"; exit 1; }
done
[ -x "$herd" ] || { echo "bench: build herd first (scripts/build.sh)"; exit 1; }

dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
backend_port=$(port); herd_port=$(port); admin_port=$(port); nginx_port=$(port); haproxy_port=$(port)
bare_port=$(port); bare_admin_port=$(port)
render() {  # template -> file
  sed -e "s|@DIR@|$dir|g" -e "s|@BACKEND_PORT@|$backend_port|g" -e "s|@PROXY_PORT@|$2|g" \
      -e "s|@ADMIN_PORT@|$admin_port|g" "$here/$1" > "$dir/$1"
}
render backend-nginx.conf "$backend_port"
render proxy-nginx.conf "$nginx_port"
render haproxy.cfg "$haproxy_port"
render herd.toml "$herd_port"
# For the record only: herd without its affinity modules (the peers do no affinity work).
sed -e "s|@DIR@|$dir/bare|g" -e "s|@BACKEND_PORT@|$backend_port|g" -e "s|@PROXY_PORT@|$bare_port|g" \
    -e "s|@ADMIN_PORT@|$bare_admin_port|g" -e '/^affinity/d' "$here/herd.toml" > "$dir/herd-bare.toml"

/usr/sbin/nginx -c "$dir/backend-nginx.conf" -p "$dir" & pids+=($!); backend_pid=$!
/usr/sbin/nginx -c "$dir/proxy-nginx.conf" -p "$dir" & pids+=($!); nginx_pid=$!
/usr/sbin/haproxy -f "$dir/haproxy.cfg" -q & pids+=($!); haproxy_pid=$!
"$herd" run -c "$dir/herd.toml" 2> "$dir/herd.log" & pids+=($!); herd_pid=$!
"$herd" run -c "$dir/herd-bare.toml" 2> "$dir/herd-bare.log" & pids+=($!); bare_pid=$!

wait_up() {
  for _ in $(seq 1 200); do curl -fs -o /dev/null "http://127.0.0.1:$1/api/v1/query?query=up" && return 0; sleep 0.05; done
  echo "bench: nothing answers on port $1"; cat "$dir"/*.log 2>/dev/null; exit 1
}
for p in $backend_port $herd_port $bare_port $nginx_port $haproxy_port; do wait_up $p; done

# CPU ticks (user + system) of a process and its children threads/workers (nginx: master + worker).
ticks() {
  local total=0 p
  for p in "$@" $(for q in "$@"; do pgrep -P "$q"; done); do
    total=$((total + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0)))
  done
  echo $total
}
declare -A rps p50 p99 cpu
measure() {  # name port round
  local before after out; before=$(ticks ${pid_of[$1]})
  out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -H "$(header_of "$1")" "http://127.0.0.1:$2/api/v1/query?query=up")
  after=$(ticks ${pid_of[$1]})
  cpu[$1,$3]=$(awk -v t=$((after - before)) -v r="$(awk '/requests in/ {print $1}' <<<"$out")" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f", t / hz / r * 1e6 }')
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "bench: $1 had errors:"; echo "$out"; fi
  rps[$1,$3]=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50[$1,$3]=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99[$1,$3]=$(awk '$1=="99%" {print $2}' <<<"$out")
}
to_us() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The client behaves like a browser: it returns the affinity cookie it was given (every peer gets
# the same header; only herd reads it). Two more rows, for the record: herd with a client that
# never returns cookies (a Set-Cookie on every response), and herd without affinity modules.
cookie=$(curl -s -D- -o /dev/null "http://127.0.0.1:$herd_port/api/v1/query?query=up" | awk -F'[ ;]' 'tolower($1)=="set-cookie:" {print $2}')
[ -n "$cookie" ] || { echo "bench: herd set no affinity cookie"; exit 1; }
peers=(direct herd nginx haproxy herd-nocookie herd-bare)
declare -A port_of=([direct]=$backend_port [herd]=$herd_port [nginx]=$nginx_port [haproxy]=$haproxy_port
                    [herd-nocookie]=$herd_port [herd-bare]=$bare_port)
declare -A pid_of=([direct]=$backend_pid [herd]=$herd_pid [nginx]=$nginx_pid [haproxy]=$haproxy_pid
                   [herd-nocookie]=$herd_pid [herd-bare]=$bare_pid)
header_of() { [ "$1" = herd-nocookie ] && echo "X-Client: bench" || echo "Cookie: $cookie"; }
echo "warming up..."
for p in "${peers[@]}"; do wrk -t1 -c"$conns" -d2s "http://127.0.0.1:${port_of[$p]}/api/v1/query?query=up" >/dev/null; done
n=${#peers[@]}
for r in $(seq 1 "$rounds"); do
  for i in $(seq 0 $((n - 1))); do  # a rotating order: no peer always runs first or last
    p=${peers[$(((i + r) % n))]}
    echo "round $r: $p"; measure "$p" "${port_of[$p]}" "$r"
  done
done

declare -A R P50 P99 CPU
printf '\n%-13s %12s %10s %10s %14s   (median of %s rounds, %ss each, %s connections, 1 worker each)\n' \
  peer "requests/s" p50 p99 "CPU/request" "$rounds" "$secs" "$conns"
for p in "${peers[@]}"; do
  rs=(); a=(); b=(); c=()
  for r in $(seq 1 "$rounds"); do
    rs+=("${rps[$p,$r]}"); a+=("$(to_us "${p50[$p,$r]}")"); b+=("$(to_us "${p99[$p,$r]}")"); c+=("${cpu[$p,$r]}")
  done
  R[$p]=$(median "${rs[@]}"); P50[$p]=$(median "${a[@]}"); P99[$p]=$(median "${b[@]}"); CPU[$p]=$(median "${c[@]}")
  printf '%-13s %12.0f %8.0fus %8.0fus %12.2fus\n' "$p" "${R[$p]}" "${P50[$p]}" "${P99[$p]}" "${CPU[$p]}"
done
echo "(direct: CPU/request is the backend's own; for the proxies it is the proxy's)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }'; }
echo
echo "herd/haproxy: requests/s $(ratio "${R[herd]}" "${R[haproxy]}")x, p99 $(ratio "${P99[herd]}" "${P99[haproxy]}")x, CPU/request $(ratio "${CPU[herd]}" "${CPU[haproxy]}")x"
echo "herd/nginx:   requests/s $(ratio "${R[herd]}" "${R[nginx]}")x, p99 $(ratio "${P99[herd]}" "${P99[nginx]}")x, CPU/request $(ratio "${CPU[herd]}" "${CPU[nginx]}")x"
better=$([ "$(awk -v a="${R[nginx]}" -v b="${R[haproxy]}" 'BEGIN{print (a>b)}')" = 1 ] && echo nginx || echo haproxy)
echo "for the record: herd-nocookie/haproxy $(ratio "${R[herd-nocookie]}" "${R[haproxy]}")x," \
  "herd-bare/haproxy $(ratio "${R[herd-bare]}" "${R[haproxy]}")x requests/s"
echo "target: herd >= 1.0x the better peer ($better) in requests/s, p99 no worse:" \
  "$(ratio "${R[herd]}" "${R[$better]}")x requests/s, p99 $(ratio "${P99[herd]}" "${P99[$better]}")x"
