#!/usr/bin/env bash
# Runs every test: the browser test's chromium first (installed if missing),
# then `cargo test` (unit tests, integration tests over real sockets and real
# stores, the CLI, the crash test, and the web workspace in a real browser).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-browser.sh
exec cargo test "$@"
