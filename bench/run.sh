#!/usr/bin/env bash
# Benchmarks Switchyard against the direct path, LiteLLM and nginx on this machine, in one run.
#   bench/run.sh [--quick] [--skip-litellm] [--only LIST] [--repeat N]
# --repeat N runs the harness N times and writes the medians of the N runs (bench/medians.py) to the docs.
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
# Self-contained binaries, as one would deploy them: the Swift runtime and Foundation linked in (starts faster
# than with the shared libraries; the same code otherwise).
swift build -c release --static-swift-stdlib --product switchyard
swift build -c release --static-swift-stdlib --product switchyard-load
repeat=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat="$2"; shift 2 ;;
    --repeat=*) repeat="${1#--repeat=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ "$repeat" -le 1 ]; then exec python3 bench/run.py "${args[@]}"; fi
mkdir -p bench/results/raw
before="$(ls bench/results/raw)"
for run in $(seq 1 "$repeat"); do
  echo "[bench] run $run of $repeat" >&2
  python3 bench/run.py "${args[@]}"
done
new=()
for file in $(ls bench/results/raw); do
  grep -qx "$file" <<< "$before" || new+=("bench/results/raw/$file")
done
python3 bench/medians.py --write "${new[@]}"
