#!/usr/bin/env bash
# End-to-end check with the official openai, openai-agents and anthropic Python SDKs: starts `switchyard mock` and
# `switchyard serve` on loopback (port 0), then runs the test_*_sdk.py files against the proxy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$root/.build/debug/switchyard"
venv="$here/.venv"
[ -x "$bin" ] || (cd "$root" && swift build --product switchyard)
# shellcheck source=../scripts.sh
source "$root/Tests/scripts.sh"
# The official clients, pinned.
python_venv "$venv" "openai==3.63.0 openai-agents==0.24.0 anthropic==2.17.0 pytest==8.3.5 pytest-asyncio==0.25.3"
start_mock --chunks 4
cat > "$work/proxy.yaml" <<YAML
model_list:
  - model_name: grok-code-fast-1
    litellm_params: {model: xai/grok-4.3}
  - model_name: grok-4.7-strict
    litellm_params: {model: xai/grok-4.7, drop_params: false}
  - model_name: mock-echo
    litellm_params: {model: mock/echo}
  # A Chat Completions-only upstream (any OpenAI-compatible server): the Responses and Messages APIs are translated.
  - model_name: chat-only
    litellm_params: {model: openai/grok-4.3, api_base: "$mock_url/v1", api_key: xai-test-key}
litellm_settings: {drop_params: true}
router_settings:
  model_group_alias: {"claude-*": grok-code-fast-1}   # Claude Code's model names
general_settings: {master_key: os.environ/SWITCHYARD_MASTER_KEY}
YAML
GROK_API_KEY=xai-test-key GROK_BASE_URL="$mock_url/v1" SWITCHYARD_MASTER_KEY=sk-sdk-master-key \
  "$bin" serve --config "$work/proxy.yaml" --port 0 > "$work/proxy.out" 2> "$work/proxy.err" & pids+=($!)
proxy_url="$(wait_for_url "$work/proxy.out" "listening on ")"
SWITCHYARD_URL="$proxy_url" SWITCHYARD_MASTER_KEY=sk-sdk-master-key \
  "$venv/bin/pytest" -q -p no:cacheprovider "$here/test_openai_sdk.py" "$here/test_agents_sdk.py" \
  "$here/test_anthropic_sdk.py"
if grep -q "xai-test-key\|sk-sdk-master-key" "$work/proxy.err"; then echo "a key leaked into the proxy log" >&2; exit 1; fi
