#!/usr/bin/env bash
# Installs what is needed, builds with warnings as errors, and runs every test (CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh ci
ctest --preset ci -j "$(nproc)"
