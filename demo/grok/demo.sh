#!/usr/bin/env bash
# Switchyard demo: one normal and one streamed request to grok-4.3 through the proxy, with the
# answer, token usage (reasoning tokens included), cost and latency.
#
#   GROK_API_KEY=xai-... demo/grok/demo.sh           real call to xAI (key from https://console.x.ai)
#   demo/grok/demo.sh --mock                          same path against `switchyard mock`; no key needed
#
# Environment: GROK_API_KEY (required unless --mock), GROK_BASE_URL (optional upstream URL),
# SWITCHYARD_URL (optional: use a proxy that is already running instead of starting one),
# SWITCHYARD_MASTER_KEY (the proxy's key, if it has one). The key is never printed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mock=false
for argument in "$@"; do
  case "$argument" in
    --mock) mock=true ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument '$argument' (use --mock or --help)" >&2; exit 2 ;;
  esac
done

if [ "$mock" = false ] && [ -z "${GROK_API_KEY:-}" ]; then
  cat >&2 <<'TEXT'
demo: GROK_API_KEY is not set.
  Set it to your xAI API key, e.g.  export GROK_API_KEY=xai-...
  Get a key at https://console.x.ai (API Keys). Or run the demo offline: demo/grok/demo.sh --mock
TEXT
  exit 2
fi

bin="$root/.build/debug/switchyard"
if [ ! -x "$bin" ]; then
  echo "demo: building switchyard (first run only)..." >&2
  (cd "$root" && swift build --product switchyard >&2)
fi

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Waits for a line starting with "$2" in file "$1" and prints the URL that follows it.
wait_for_url() {
  for _ in $(seq 1 600); do
    if grep -q "^$2" "$1" 2>/dev/null; then grep "^$2" "$1" | head -1 | sed "s|^$2||"; return 0; fi
    sleep 0.05
  done
  echo "demo: timed out waiting for '$2'" >&2; cat "$1" >&2; return 1
}

if [ "$mock" = true ]; then
  "$bin" mock --port 0 --chunks 6 --chunk-interval-ms 30 > "$work/mock.out" 2>&1 & pids+=($!)
  export GROK_BASE_URL="$(wait_for_url "$work/mock.out" "mock upstream listening on ")/v1"
  export GROK_API_KEY="${GROK_API_KEY:-xai-demo-mock-key}"
  echo "== upstream: switchyard mock at $GROK_BASE_URL"
else
  echo "== upstream: ${GROK_BASE_URL:-https://api.x.ai/v1} (key from GROK_API_KEY)"
fi

if [ -n "${SWITCHYARD_URL:-}" ] && [ "$mock" = false ]; then
  url="$SWITCHYARD_URL"
  echo "== proxy: already running at $url"
else
  "$bin" serve --config "$root/proxy.yaml" --port 0 > "$work/proxy.out" 2> "$work/proxy.log" & pids+=($!)
  url="$(wait_for_url "$work/proxy.out" "listening on ")"
  echo "== proxy: switchyard serve on proxy.yaml at $url"
fi

echo
echo "== one request to grok-4.3"
"$bin" chat grok-4.3 "In one sentence: what does an LLM proxy do?" --url "$url"
echo
echo "== the same, streamed"
"$bin" chat grok-4.3 "Name three things a good LLM proxy measures." --url "$url" --stream
