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
