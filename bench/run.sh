#!/usr/bin/env bash
# Benchmarks Switchyard against the direct path, LiteLLM and nginx on this machine, in one run.
#   bench/run.sh [--quick] [--skip-litellm]
# Installs what it needs (wrk, hey, nginx from Debian; litellm[proxy]==1.100.0 into bench/.venv), builds
# release binaries, runs every scenario, writes bench/results/latest.json and regenerates docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
missing=()
for tool in wrk hey nginx taskset; do command -v "$tool" > /dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  packages=()
  for tool in "${missing[@]}"; do
    case "$tool" in nginx) packages+=(nginx-light) ;; taskset) packages+=(util-linux) ;; *) packages+=("$tool") ;; esac
  done
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi
if [[ " $* " != *" --skip-litellm "* ]]; then
  if [ ! -x bench/.venv/bin/litellm ]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install --quiet --disable-pip-version-check "litellm[proxy]==1.100.0"
  fi
fi
swift build -c release --product switchyard
swift build -c release --product switchyard-load
exec python3 bench/run.py "$@"
