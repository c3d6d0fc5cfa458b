#!/usr/bin/env bash
# Load bench of `keyward serve` on loopback: throughput and p99 of /v1/verify
# and /v1/authz relative to the same server's bare /healthz, measured in one
# run; usage counting on vs off; 1k vs 1M keys stored (SQLite).
#
# Needs wrk (apt install wrk) and sqlite3 (apt install sqlite3).
# Usage: bench/load.sh [seconds per measurement, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
THREADS=1      # wrk threads: the machine has 2 cores, keyward gets the rest
CONNECTIONS=32
PORT=18090

command -v wrk >/dev/null || { echo "wrk is needed: apt install wrk" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed: apt install sqlite3" >&2; exit 1; }
cargo build --release -q -p keyward
BIN=target/release/keyward
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

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

# wrk's requests/s and p99 (ms) for a script (or none).
measure() {
    local path=$1 script=${2:-}
    local out
    if [ -n "$script" ]; then
        out=$(wrk -t$THREADS -c$CONNECTIONS -d"${DURATION}s" --latency -s "bench/$script" "http://127.0.0.1:$PORT$path")
    else
        out=$(wrk -t$THREADS -c$CONNECTIONS -d"${DURATION}s" --latency "http://127.0.0.1:$PORT$path")
    fi
    local rps p99 non2xx
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    echo "$rps $p99 ${non2xx:-0}"
}

run_case() {
    local label=$1 keys=$2 usage=$3
    local dir="$WORK/$label"
    export KEYWARD_KEY
    KEYWARD_KEY=$(prepare "$dir" "$keys")
    "$BIN" serve --data-dir "$dir" --listen "127.0.0.1:$PORT" --usage "$usage" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
    # Warm the cache and the connection pool.
    wrk -t1 -c4 -d1s -s bench/verify.lua "http://127.0.0.1:$PORT/v1/verify" >/dev/null
    read -r h_rps h_p99 _ <<<"$(measure /healthz)"
    read -r v_rps v_p99 v_bad <<<"$(measure /v1/verify verify.lua)"
    read -r a_rps a_p99 a_bad <<<"$(measure /v1/authz authz.lua)"
    kill -TERM $pid; wait $pid || true
    awk -v l="$label" -v k="$keys" -v u="$usage" -v hr="$h_rps" -v hp="$h_p99" -v vr="$v_rps" -v vp="$v_p99" -v ar="$a_rps" -v ap="$a_p99" -v vb="$v_bad" -v ab="$a_bad" \
        'BEGIN { printf "| %s | %d | %s | %.0f | %.2f | %.0f (%.2fx) | %.2f | %.0f (%.2fx) | %.2f | %s/%s |\n", l, k, u, hr, hp, vr, vr/hr, vp, ar, ar/hr, ap, vb, ab }'
}

echo "| case | keys | usage | healthz req/s | healthz p99 ms | verify req/s (x healthz) | verify p99 ms | authz req/s (x healthz) | authz p99 ms | non-2xx verify/authz |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"
run_case 1k-usage-on 1000 true
run_case 1k-usage-off 1000 false
run_case 1M-usage-on 1000000 true
