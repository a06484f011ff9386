#!/usr/bin/env bash
# Builds ladder in release mode and runs the benchmark scenarios, each on a
# fresh store in a temporary directory with its own server process.
#
#   scripts/bench.sh                 # N=100000 firms, tables
#   N=1000000 scripts/bench.sh       # another scale
#   scripts/bench.sh --json          # one JSON object per scenario
#   PROJECTS=50000 scripts/bench.sh  # the project reports at another library size
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
ladder=./target/release/ladder
n=${N:-100000}
"$ladder" bench sync --firms "$n" "$@"
"$ladder" bench get --firms "$n" --calls 50000 --concurrency 32 "$@"
"$ladder" bench list --firms "$n" --calls 2000 --concurrency 1 "$@"
"$ladder" bench write --firms "$n" --calls 20000 --concurrency 64 "$@"
"$ladder" bench watch --firms "$n" --calls 20000 --concurrency 64 "$@"
"$ladder" bench suggest --postings 100000 --firms 5000 --queries 2000 "$@"
"$ladder" bench projects --projects "${PROJECTS:-10000}" --queries 200 "$@"
"$ladder" bench web --firms "$n" --calls 2000 --concurrency 8 "$@"
