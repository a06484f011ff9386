#!/usr/bin/env bash
# Runs every test, on both backends:
# 1. `cargo test` on the embedded sled store (unit tests, integration tests
#    over real sockets and real stores, the CLI, the crash tests, the web
#    workspace in a real browser);
# 2. the same `cargo test` against a throwaway PostgreSQL 15
#    (scripts/with-postgres.sh sets LADDER_TEST_POSTGRES: every test server
#    then keeps its store in PostgreSQL, and the two-server test runs).
# Installs what the tests need when it is missing: chromium and chromedriver
# for the browser test, PostgreSQL 15 for the second pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-browser.sh
unset LADDER_TEST_POSTGRES
echo "== tests on sled ==" >&2
cargo test "$@"
echo "== tests on PostgreSQL ==" >&2
scripts/with-postgres.sh cargo test "$@"
