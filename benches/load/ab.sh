#!/usr/bin/env bash
# A/B of two keyward binaries on loopback: requests per second of /healthz
# and of an allowed /v1/authz check (one cached key, usage counting on),
# each server pinned to core 0 and wrk to core 1, ROUNDS interleaved rounds
# of SECONDS each so that drift of this shared machine hits both alike.
#
# Usage: benches/load/ab.sh OLD_BINARY NEW_BINARY [SECONDS, default 5] [ROUNDS, default 3]
# e.g.   git worktree add /tmp/old <rev> && (cd /tmp/old && CARGO_TARGET_DIR=/tmp/oldtarget cargo build --release -p keyward)
#        cargo build --release -p keyward && benches/load/ab.sh /tmp/oldtarget/release/keyward target/release/keyward
# Needs wrk and taskset (apt install wrk util-linux).
set -euo pipefail
OLD=$(realpath "$1") NEW=$(realpath "$2") SECONDS_EACH=${3:-5} ROUNDS=${4:-3}
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
declare -A BIN KEY PORT
BIN[old]=$OLD BIN[new]=$NEW PORT[old]=18202 PORT[new]=18201
for v in old new; do
    mkdir -p "$WORK/$v"
    KEY[$v]=$("${BIN[$v]}" keys create --data-dir "$WORK/$v" --account acme --name bench --scope campaigns:read)
    (cd "$WORK/$v" && exec taskset -c 0 "${BIN[$v]}" serve --listen "127.0.0.1:${PORT[$v]}" --data-dir "$WORK/$v") >"$WORK/$v.log" 2>&1 &
    PIDS+=($!)
done
sleep 2
for v in old new; do curl -sf "http://127.0.0.1:${PORT[$v]}/healthz" >/dev/null || { echo "$v did not start:"; cat "$WORK/$v.log"; exit 1; }; done
rps() { awk '/Requests\/sec/ {print $2}'; }
for round in $(seq "$ROUNDS"); do
    for v in old new; do
        p=${PORT[$v]}
        h=$(taskset -c 1 wrk -t1 -c32 -d"${SECONDS_EACH}s" "http://127.0.0.1:$p/healthz" | rps)
        a=$(taskset -c 1 wrk -t1 -c32 -d"${SECONDS_EACH}s" -H "X-API-Key: ${KEY[$v]}" -H 'X-Original-Method: GET' \
            -H 'X-Original-URI: /api/public/v1/campaigns/42' "http://127.0.0.1:$p/v1/authz" | rps)
        echo "round $round $v healthz $h authz $a"
    done
done
