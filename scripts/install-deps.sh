#!/usr/bin/env bash
# Installs every Debian (bookworm) package herd needs to build, test and benchmark.
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config binutils git
  # libraries (DESIGN.md: Boost with Asio/Beast/DLL, toml++, nlohmann_json, spdlog, CLI11, Catch2 v2)
  libboost1.81-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libcli11-dev catch2
  libyaml-cpp-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev openssl
  # real servers and tools the tests start
  prometheus etcd-server curl python3
  # peers and load generator for bench/ (and a screenshot-free /status check stays possible)
  nginx haproxy wrk
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo): apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: Prometheus would otherwise pull in exporters and services we do not use.
# Packages that start a service on install (nginx, haproxy, prometheus) are stopped again below:
# herd's tests and benchmarks start their own instances on free ports.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for service in nginx haproxy prometheus etcd; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    $SUDO systemctl stop "$service" || true
  fi
done
echo "install-deps: done"
