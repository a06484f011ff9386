#!/usr/bin/env bash
# The benchmark scenarios on PostgreSQL: builds ladder in release mode, starts
# a throwaway PostgreSQL 15 (scripts/with-postgres.sh: fsync and
# synchronous_commit on), and runs sync, get, list and write with the server's
# store there (LADDER_STORE, a fresh schema per scenario), then prints the
# size of each scenario's tables. Compare with scripts/bench.sh (sled) run
# in the same sitting.
#
#   scripts/bench-postgres.sh            # N=100000 firms
#   N=1000000 scripts/bench-postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
export N=${N:-100000} LADDER=$PWD/target/release/ladder
exec scripts/with-postgres.sh bash -c '
set -euo pipefail
run() {
    local scenario=$1; shift
    export LADDER_STORE="$LADDER_TEST_POSTGRES?options=-csearch_path%3Dbench_$scenario"
    "$LADDER" bench "$scenario" --firms "$N" "$@"
    psql -qAt "$LADDER_TEST_POSTGRES" -c "SELECT '"'"'$scenario tables: '"'"' || pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '"'"'bench_$scenario'"'"' AND c.relkind = '"'"'r'"'"'"
}
run sync
run get --calls 50000 --concurrency 32
run list --calls 2000 --concurrency 1
run write --calls 20000 --concurrency 64
'
