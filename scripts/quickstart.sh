#!/usr/bin/env bash
# Quick start: install what is needed, build, and run herd on examples/quickstart.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh default
herd=build/default/bin/herd
"$herd" plugins
"$herd" check -c examples/quickstart.toml
cat <<MSG

herd is starting with examples/quickstart.toml. Open:
  http://127.0.0.1:9095/status    what herd runs: plugins, discovery instances, their targets and errors
  http://127.0.0.1:9095/metrics   herd_* metrics for Prometheus
Edit examples/quickstart/targets.yml and watch the target count change; send SIGHUP after editing
examples/quickstart.toml (kill -HUP \$(pgrep -f 'herd run')); Ctrl-C stops herd.

MSG
exec "$herd" run -c examples/quickstart.toml
