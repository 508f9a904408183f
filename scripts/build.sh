#!/usr/bin/env bash
# Configures and builds one CMake preset (default: "default"). Used by quickstart.sh and test.sh.
set -euo pipefail
preset=${1:-default}
cd "$(dirname "$0")/.."
jobs=$(nproc)
# CI builds a fresh clone in a new place each time: let ccache match objects across directories.
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=true
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
