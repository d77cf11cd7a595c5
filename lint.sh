#!/usr/bin/env bash
# Lints the Swift sources with the toolchain's swift-format; fails on any finding.
set -euo pipefail
cd "$(dirname "$0")"
swift format lint --strict --recursive --parallel Package.swift Sources Tests bench 2>&1
