#!/usr/bin/env bash
# The console in a real browser: headless Chromium (Debian's chromium and chromium-driver, installed here when
# missing) driven by selenium (PyPI, in Tests/browser/.venv) through log-in, a key made, its spend, its revocation,
# the run-time configuration pages, a page without a session, and a forged write. Starts `switchyard mock` and
# `switchyard serve` (SQLite in a temporary folder) on loopback, port 0.
#
#   Tests/browser/run.sh                       screenshots go to a temporary folder and are checked, then removed
#   Tests/browser/run.sh --screenshots DIR     they are kept in DIR (docs/images/console for the docs)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$root/.build/debug/switchyard"
venv="$here/.venv"
shots=""
if [ "${1:-}" = "--screenshots" ]; then shots="$(mkdir -p "$2" && cd "$2" && pwd)"; fi
# The browser is a test requirement: installed when it can be, else the run fails (it never skips).
if ! command -v chromium > /dev/null || ! command -v chromedriver > /dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver > /dev/null
  else
    echo "browser tests: chromium is not installed; run: sudo apt-get install chromium chromium-driver" >&2
    exit 1
  fi
fi
[ -x "$bin" ] || (cd "$root" && swift build --product switchyard)
# shellcheck source=../scripts.sh
source "$root/Tests/scripts.sh"
python_venv "$venv" "selenium==4.51.0 pytest==8.3.5"
start_mock
cat > "$work/proxy.yaml" <<YAML
model_list:
  - model_name: grok-code-fast-1
    litellm_params: {model: xai/grok-code-fast-1}
  - model_name: grok-4.3
    litellm_params: {model: xai/grok-4.3}
general_settings:
  master_key: os.environ/SWITCHYARD_MASTER_KEY
  database_url: "sqlite:$work/switchyard.db"
YAML
GROK_API_KEY=xai-test-key GROK_BASE_URL="$mock_url/v1" SWITCHYARD_MASTER_KEY=sk-browser-master-key \
  "$bin" serve --config "$work/proxy.yaml" --port 0 > "$work/proxy.out" 2> "$work/proxy.err" & pids+=($!)
proxy_url="$(wait_for_url "$work/proxy.out" "listening on ")"
SWITCHYARD_URL="$proxy_url" SWITCHYARD_MASTER_KEY=sk-browser-master-key SCREENSHOTS="${shots:-$work/screenshots}" \
  SE_OFFLINE=true "$venv/bin/pytest" -q -p no:cacheprovider --durations=4 "$here/test_console.py"
if grep -q "xai-test-key\|sk-browser-master-key" "$work/proxy.err"; then echo "a key leaked into the proxy log" >&2; exit 1; fi
