#!/usr/bin/env bash
# Heavy adversarial checks of issue 13 against a release build on loopback,
# printing figures: 20,000 idle connections (the server's fds, and how soon a
# new client is served), 200 idle watchers from revision 1 (RSS and write
# latency before and while they sit), 8 parallel sync streams on one channel,
# then a 10-minute soak of 64 mixed clients (percentiles, errors, RSS).
# Every loop is bounded; everything talks to 127.0.0.1 only.
#
#   scripts/hardening.sh            # uses target/release (or $CARGO_TARGET_DIR)
#   IDLE=5000 FIRMS=5000 scripts/hardening.sh
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE=${IDLE:-20000}          # idle connections
FIRMS=${FIRMS:-20000}        # firms loaded before the watchers
WATCHERS=${WATCHERS:-200}    # idle watchers
WRITES=${WRITES:-300}        # updates timed for p50/p99
SOAK_SECONDS=${SOAK_SECONDS:-600}   # the mixed-client soak
SOAK_CLIENTS=${SOAK_CLIENTS:-64}
SOAK_FIRMS=${SOAK_FIRMS:-20000}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release --quiet --bin ladder --example adversary
LADDER=$TARGET/release/ladder
ADV=$TARGET/release/examples/adversary

work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The watchers scenario lifts the per-caller limit (default 16: the other 184
# would be refused) to show what 200 open watchers cost.
cat > "$work/ladder.toml" <<TOML
[server]
listen = "127.0.0.1:0"
data = "$work/data"
max_watchers_per_caller = $WATCHERS
TOML

ulimit -n "$(ulimit -Hn)" || true
LADDER_LOG=${LADDER_LOG:-ladder=info} "$LADDER" serve --config "$work/ladder.toml" >"$work/out" 2>"$work/log" &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/out")
[[ -n $port ]] || { echo "server did not start"; cat "$work/log"; exit 1; }

fds() { ls "/proc/$server_pid/fd" | wc -l; }
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$server_pid/status"; }
echo "server pid $server_pid on 127.0.0.1:$port; fd limit $(ulimit -n); fds $(fds), RSS $(rss)"

echo "== 1. $IDLE idle connections"
"$ADV" idle "$port" "$IDLE" 8 &
idle_pid=$!
sleep 3
echo "server fds while they connect: $(fds) (max_connections 4096, per peer 512)"
"$ADV" probe "$port"
echo "server CPU: $(ps -o %cpu= -p "$server_pid")%"
wait "$idle_pid"
echo "server fds after: $(fds)"
grep -E "connection limits|silent or idle|accept failed" "$work/log" | tail -3 | cut -c1-300 || true

echo "== 4. $WATCHERS idle watchers from revision 1 over $FIRMS firms"
"$ADV" load "$port" "$FIRMS"
"$ADV" writes "$port" 100 >/dev/null   # warm up
echo "before: RSS $(rss)"; "$ADV" writes "$port" "$WRITES"
"$ADV" watchers "$port" "$WATCHERS" 30 &
watch_pid=$!
sleep 8
echo "with $WATCHERS watchers: RSS $(rss)"; "$ADV" writes "$port" "$WRITES"
echo "with $WATCHERS watchers after the writes: RSS $(rss)"
kill "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null || true
echo "watcher beyond the head and per-caller limit: see tests/limits.rs"

echo "== 6. 8 parallel sync streams of 3,000 one-frame rows on one channel"
for trial in 1 2 3; do "$ADV" sync "$port" 8 3000 | sed "s/^/trial $trial: /"; done
grep -c "ENHANCE_YOUR_CALM\|GOAWAY" "$work/log" | sed 's/^/GOAWAY lines in the server log: /' || true
echo "final RSS $(rss), fds $(fds)"

echo "== soak: $SOAK_CLIENTS mixed clients for $SOAK_SECONDS s on $SOAK_FIRMS firms (own server)"
# Gets, filtered lists, etag-guarded updates and change-log pages at random;
# prints each call's percentiles, errors other than etag conflicts (expected
# between concurrent editors) and the server's RSS every 10 s.
"$LADDER" bench soak --firms "$SOAK_FIRMS" --clients "$SOAK_CLIENTS" --seconds "$SOAK_SECONDS"
