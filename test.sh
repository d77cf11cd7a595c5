#!/usr/bin/env bash
# Runs every test: the Swift suites (unit, live proxy + mock upstream, CLI, storage on SQLite and on a real
# PostgreSQL the tests start), then the end-to-end checks with the official openai, openai-agents and anthropic
# Python SDKs (installed from PyPI into Tests/sdk/.venv on first use), and the console's browser tests.
set -euo pipefail
cd "$(dirname "$0")"
# The storage tests run against a real PostgreSQL server they start themselves; they fail (never skip) without it.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
  else
    echo "test.sh: PostgreSQL is not installed; run: sudo apt-get install postgresql" >&2
    exit 1
  fi
fi
swift build --build-tests
swift test --skip-build
# Tests that move a lot of data run after the rest, on their own, so they starve no other test's timing.
SWITCHYARD_RUN_ALONE=1 swift test --skip-build --filter RunsAloneTests
./Tests/sdk/run.sh
# The console in headless Chromium (Debian's chromium and chromium-driver; selenium from PyPI).
./Tests/browser/run.sh
