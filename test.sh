#!/usr/bin/env bash
# Runs every test: the Swift suites (unit, live proxy + mock upstream, CLI), then the end-to-end check with
# the official openai Python SDK (installed from PyPI into Tests/sdk/.venv on first use).
set -euo pipefail
cd "$(dirname "$0")"
swift build --build-tests
swift test --skip-build
./Tests/sdk/run.sh
