#!/usr/bin/env bash
# Load bench of `keyward serve` on loopback: throughput, p99 and server CPU
# per request of /v1/verify and /v1/authz relative to the same server's bare
# /healthz; usage counting on vs off; 1k vs 1M keys stored (SQLite).
#
# Three servers run side by side (1k keys with usage counting, 1k without,
# 1M with) and every measurement is repeated in ROUNDS interleaved rounds, so
# that drift of this shared machine hits all cases alike; the summary gives
# the median and the range of each ratio across rounds. On a machine with two
# or more cores the servers are pinned to core 0 and wrk to core 1, so the
# load generator's own work does not eat into the server's core.
#
# Needs wrk, sqlite3 and taskset (apt install wrk sqlite3 util-linux).
# Usage: benches/load/load.sh [seconds per measurement, default 5] [rounds, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-5}
ROUNDS=${2:-5}
CONNECTIONS=32
BASE_PORT=18090

for tool in wrk sqlite3 taskset python3; do
    command -v $tool >/dev/null || { echo "$tool is needed (apt install wrk sqlite3 util-linux python3)" >&2; exit 1; }
done
cargo build --release -q -p keyward
BIN=target/release/keyward
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
if [ "$(nproc)" -ge 2 ]; then SERVER_CPU=(taskset -c 0); LOAD_CPU=(taskset -c 1); else SERVER_CPU=(); LOAD_CPU=(); fi

# Prepares a data dir with one real key plus bulk keys; prints the key.
prepare() {
    local dir=$1 keys=$2
    "$BIN" admin list-keys --data-dir "$dir" >/dev/null   # creates and migrates the database
    sqlite3 "$dir/keyward.db" "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $((keys - 1)))
        INSERT INTO keys (id, account, name, environment, scopes, hash, start, metadata, created_at, created_by)
        SELECT 'key_bulk' || i, 'acct' || (i % 1000), 'bulk', 'live', '[\"campaigns:read\"]', randomblob(32),
        'cs_live_bulk', '{}', 0, 'bench' FROM s;" >/dev/null
    "$BIN" keys create --data-dir "$dir" --account acme --name bench --scope campaigns:read
}

# CPU ticks (user + system) a process has used.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One measurement: prints "rps p99_ms non2xx cpu_us_per_request".
measure() {
    local pid=$1 url=$2 script=${3:-} before after out
    before=$(ticks "$pid")
    if [ -n "$script" ]; then
        out=$("${LOAD_CPU[@]}" wrk -t1 -c$CONNECTIONS -d"${DURATION}s" --latency -s "benches/load/$script" "$url")
    else
        out=$("${LOAD_CPU[@]}" wrk -t1 -c$CONNECTIONS -d"${DURATION}s" --latency "$url")
    fi
    after=$(ticks "$pid")
    awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        /Requests\/sec/ { rps = $2 }
        /Non-2xx/ { bad = $5 }
        $1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; p99 = v }
        /requests in/ { n = $1 }
        END { printf "%s %s %d %.3f\n", rps, p99, bad, ticks / hz * 1e6 / n }' <<<"$out"
}

CASES=("1k-usage-on 1000 true" "1k-usage-off 1000 false" "1M-usage-on 1000000 true")
declare -A PID KEY PORT
i=0
for case in "${CASES[@]}"; do
    read -r label keys usage <<<"$case"
    dir="$WORK/$label"
    KEY[$label]=$(prepare "$dir" "$keys")
    PORT[$label]=$((BASE_PORT + i)); i=$((i + 1))
    "${SERVER_CPU[@]}" "$BIN" serve --data-dir "$dir" --listen "127.0.0.1:${PORT[$label]}" --usage "$usage" >/dev/null 2>&1 &
    PID[$label]=$!
done
for label in "${!PORT[@]}"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:${PORT[$label]}/healthz" >/dev/null && break; sleep 0.1; done
    kill -0 "${PID[$label]}" 2>/dev/null || { echo "the $label server did not start (port ${PORT[$label]} taken?)" >&2; exit 1; }
    # Warm the cache and the connection pool.
    KEYWARD_KEY=${KEY[$label]} "${LOAD_CPU[@]}" wrk -t1 -c4 -d1s -s benches/load/verify.lua "http://127.0.0.1:${PORT[$label]}/v1/verify" >/dev/null
done

RAW="$WORK/raw.txt"
for round in $(seq "$ROUNDS"); do
    # Each round starts with a different case, so that no case is always
    # measured right after another.
    for k in $(seq 0 $((${#CASES[@]} - 1))); do
        read -r label _ _ <<<"${CASES[$(((round + k) % ${#CASES[@]}))]}"
        export KEYWARD_KEY=${KEY[$label]}
        url="http://127.0.0.1:${PORT[$label]}"
        echo "$round $label healthz $(measure "${PID[$label]}" "$url/healthz")" >>"$RAW"
        echo "$round $label verify $(measure "${PID[$label]}" "$url/v1/verify" verify.lua)" >>"$RAW"
        echo "$round $label authz $(measure "${PID[$label]}" "$url/v1/authz" authz.lua)" >>"$RAW"
    done
    echo "round $round of $ROUNDS done" >&2
done
echo "Raw measurements (round case endpoint req/s p99-ms non-2xx server-cpu-us/request):"
sed 's/^/    /' "$RAW"
echo
python3 benches/load/summarize.py "$RAW"
