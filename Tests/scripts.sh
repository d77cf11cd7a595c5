# Shared by the Python test runners (Tests/sdk/run.sh, Tests/browser/run.sh): sourced, not run.

# Makes (or keeps) a venv at $1 with the pinned packages $2; a venv made for another list is made again.
python_venv() {
  local venv="$1" requirements="$2"
  if [ ! -x "$venv/bin/pytest" ] || [ "$(cat "$venv/requirements" 2>/dev/null)" != "$requirements" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
    echo "$requirements" > "$venv/requirements"
  fi
}

# Waits for "<prefix>http://HOST:PORT" in a file and prints the URL.
wait_for_url() {
  local file="$1" prefix="$2"
  for _ in $(seq 1 600); do
    if grep -q "^$prefix" "$file" 2>/dev/null; then grep "^$prefix" "$file" | head -1 | sed "s|^$prefix||"; return 0; fi
    sleep 0.05
  done
  echo "timed out waiting for '$prefix' in $file" >&2; cat "$file" >&2; return 1
}

# A temporary folder ($work) removed on exit, with the processes started into $pids stopped first; then
# `switchyard mock` started there with the options given, its URL in $mock_url.
start_mock() {
  work="$(mktemp -d)"
  pids=()
  trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
  "$bin" mock --port 0 "$@" > "$work/mock.out" 2>&1 & pids+=($!)
  mock_url="$(wait_for_url "$work/mock.out" "mock upstream listening on ")"
}
