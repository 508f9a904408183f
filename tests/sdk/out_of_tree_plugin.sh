#!/usr/bin/env bash
# Installs herd to a temporary prefix, builds examples/third_party_plugin against that prefix only
# (CMake package and pkg-config), and checks that the installed herd loads and runs the result.
set -euo pipefail
build_dir=$1
example=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build_dir" --prefix "$prefix" > "$work/install.log"
test -f "$prefix/include/herd/plugin_api.h"
test -f "$prefix/lib/cmake/herd_plugin_api/herd_plugin_apiConfig.cmake" ||
  test -n "$(find "$prefix" -name herd_plugin_apiConfig.cmake)"

# A copy outside the source tree, so nothing relative can leak in.
cp -r "$example" "$work/src"
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
test -f "$work/build/sd_hello.so"
test -f "$work/build/sink_echo.so"

# The same plugin through pkg-config only: --cflags --libs alone give the hidden-symbols link.
pc_dir=$(dirname "$(find "$prefix" -name herd_plugin_api.pc | head -1)")
export PKG_CONFIG_PATH=$pc_dir
mkdir -p "$work/pc"
g++ -std=c++20 -shared -fPIC "$work/src/hello_discovery.cpp" $(pkg-config --cflags --libs herd_plugin_api nlohmann_json) \
    -o "$work/pc/sd_hello.so"
abi=$(sed -n 's/^#define HERD_ABI_MAJOR \([0-9]*\).*/\1/p' "$prefix/include/herd/plugin_api.h").$(sed -n 's/^#define HERD_ABI_MINOR \([0-9]*\).*/\1/p' "$prefix/include/herd/plugin_api.h")
[ "$(pkg-config --modversion herd_plugin_api)" = "$abi.0" ] || { echo "FAIL: pkg-config version $(pkg-config --modversion herd_plugin_api), ABI $abi"; exit 1; }

# One version story: find_package(herd_plugin_api 1.1) finds this SDK (it speaks 1.1 and more),
# 2.0 does not, and the package says its ABI and where its header is.
mkdir -p "$work/pkg"
cat > "$work/pkg/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(probe NONE)
find_package(herd_plugin_api 1.1 REQUIRED)
find_package(herd_plugin_api 2.0 QUIET)
message(STATUS "abi=${herd_plugin_api_ABI_VERSION} header=${herd_plugin_api_ABI_HEADER} found2=${herd_plugin_api_FOUND}")
CMAKE
pkg_out=$(cmake -S "$work/pkg" -B "$work/pkg/build" -DCMAKE_PREFIX_PATH="$prefix" 2>&1)
grep -q "abi=$abi header=$prefix/include/herd/plugin_api.h found2=0" <<<"$pkg_out" ||
  { echo "FAIL: the CMake package says: $pkg_out"; exit 1; }

# Linked without the version script: herd plugins warns about what it exports.
mkdir -p "$work/leaky"
g++ -std=c++20 -shared -fPIC "$work/src/hello_discovery.cpp" -I"$prefix/include" $(pkg-config --cflags nlohmann_json) \
    -o "$work/leaky/sd_hello.so"
leaky=$("$prefix/bin/herd" plugins "$work/leaky" 2>&1 || true)
grep -q "warning: exports [0-9]* symbols besides herd_plugin_entry" <<<"$leaky" || { echo "FAIL: no warning: $leaky"; exit 1; }

for dir in "$work/build" "$work/pc"; do
  out=$("$prefix/bin/herd" plugins "$dir" 2>&1 || true)
  echo "$out"
  grep -Eq "sd_hello.so +sd_hello 1.0.0  ABI" <<<"$out" || { echo "FAIL: $dir/sd_hello.so was not loaded"; exit 1; }
  syms=$(nm -D --defined-only "$dir/sd_hello.so" | awk '{print $3}')
  [ "$syms" = herd_plugin_entry ] || { echo "FAIL: exports $syms"; exit 1; }
done

# And herd runs it: the installed binary, the installed plugin dir plus the new plugin.
cp "$work/build/sd_hello.so" "$(dirname "$(find "$prefix" -name sd_file.so)")/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/herd.toml" <<TOML
[host]
admin = "127.0.0.1:$port"
data_dir = "$work/data"

[[discovery]]
name = "hello"
plugin = "sd_hello"
targets = ["127.0.0.1:9100", "127.0.0.1:9101"]
TOML
"$prefix/bin/herd" check -c "$work/herd.toml"
"$prefix/bin/herd" run -c "$work/herd.toml" 2> "$work/herd.log" &
pid=$!
ok=
for _ in $(seq 1 200); do
  if curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q 'herd_discovery_targets{discovery="hello"} 2'; then ok=1; break; fi
  sleep 0.05
done
kill -TERM $pid; wait $pid || true
[ -n "$ok" ] || { cat "$work/herd.log"; echo "FAIL: herd did not serve sd_hello's targets"; exit 1; }

# The out-of-tree sink, driven by the installed herd's `herd sink`: exactly the applied set.
cp "$work/build/sink_echo.so" "$(dirname "$(find "$prefix" -name sd_file.so)")/"
cat >> "$work/herd.toml" <<TOML

[[sink]]
name = "index"
plugin = "sink_echo"
file = "$work/index.json"
TOML
mkdir -p "$work/items"
printf 'scrape_configs:\n  - job_name: a\n' > "$work/items/job-a.yml"
printf '[{"targets": ["127.0.0.1:9100"]}]\n' > "$work/items/pods.json"
"$prefix/bin/herd" check -c "$work/herd.toml"
"$prefix/bin/herd" sink -c "$work/herd.toml" apply "$work/items/job-a.yml" "$work/items/pods.json"
python3 - "$work/index.json" <<'PY'
import json, sys
index = json.load(open(sys.argv[1]))
assert sorted(index) == ["job-a", "pods"], index
assert index["pods"]["media_type"] == "application/vnd.herd.file-sd+json", index
PY
# The installed conformance kit on both: every case passes (the authoring guide shows this).
"$prefix/bin/herd" conformance --plugin "$work/build/sd_hello.so" \
  --config '{"targets": ["127.0.0.1:9100", "127.0.0.1:9101"], "interval": "100ms"}' | tee "$work/conformance-sd.txt"
grep -q " 0 failed" "$work/conformance-sd.txt"
"$prefix/bin/herd" conformance --plugin "$work/build/sink_echo.so" --config "{\"file\": \"$work/conformance-index.json\"}" \
  | tee "$work/conformance-sink.txt"
grep -q "PASS  sink.held_after_recreate" "$work/conformance-sink.txt"

echo "out-of-tree plugin: built (CMake and pkg-config), listed and run by the installed herd; its sink applied by herd sink; both pass herd conformance"
