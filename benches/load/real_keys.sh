#!/usr/bin/env bash
# Verification with real key sets (issue 12, goal 3): KEYS real keys
# (default 100,000; generated as keyward generates them, stored by digest,
# plaintexts written to a file by benches/benches/key_set.rs), presented at
# random by wrk (random_keys.lua). Servers unpinned, on both cores:
#   - every key cached (cache capacity above the key count), usage counting
#     on and off: verify vs the same server's /healthz, and what counting
#     costs with both cores busy;
#   - a cache of CACHE_SMALL keys (default 10,000), so that most requests
#     miss it and go through the store: throughput and p99 of the miss path;
# on SQLite and on PostgreSQL. Every measurement is repeated in ROUNDS
# interleaved rounds; the summary gives the median and range of each
# ratio across rounds.
#
# Needs wrk, curl, python3 and PostgreSQL (KEYWARD_TEST_POSTGRES_URL).
# Usage: benches/load/real_keys.sh [seconds per measurement, default 30] [rounds, default 2]
# (a measurement must span several usage flushes: under this load the wait
# between them grows to about 30 s)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-30}
ROUNDS=${2:-2}
KEYS=${KEYS:-100000}
CACHE_SMALL=${CACHE_SMALL:-10000}
CONNECTIONS=${CONNECTIONS:-32}
BASE_PORT=18290
for tool in wrk curl python3; do
    command -v $tool >/dev/null || { echo "$tool is needed (apt install wrk curl python3)" >&2; exit 1; }
done
cargo build --release -q -p keyward
BIN=target/release/keyward
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo bench -q -p keyward-benches --bench key_set -- "$KEYS" "$WORK/sqlite-keys.txt" sqlite "$WORK/sqlite" >&2
PG_URL=$(cargo bench -q -p keyward-benches --bench key_set -- "$KEYS" "$WORK/pg-keys.txt" postgres keyward_bench_real_keys)
# A management key first: servers starting at once on a new database would
# all try to write the first one.
"$BIN" admin create-key --data-dir "$WORK/sqlite" --name bench >/dev/null

# label store capacity usage
CASES=(
    "sqlite-cached sqlite $((KEYS * 2)) true"
    "sqlite-cached-nocount sqlite $((KEYS * 2)) false"
    "sqlite-small sqlite $CACHE_SMALL true"
    "pg-cached pg $((KEYS * 2)) true"
    "pg-cached-nocount pg $((KEYS * 2)) false"
    "pg-small pg $CACHE_SMALL true"
)
declare -A PID PORT FILE
i=0
for case in "${CASES[@]}"; do
    read -r label store capacity usage <<<"$case"
    PORT[$label]=$((BASE_PORT + i)); i=$((i + 1))
    if [ "$store" = sqlite ]; then
        where=(--data-dir "$WORK/sqlite"); FILE[$label]=$WORK/sqlite-keys.txt
    else
        where=(--database-url "$PG_URL"); FILE[$label]=$WORK/pg-keys.txt
    fi
    # A TTL of a minute: the cached cases stay cached while measured.
    "$BIN" serve "${where[@]}" --listen "127.0.0.1:${PORT[$label]}" --cache-capacity "$capacity" \
        --cache-ttl-seconds 60 --usage "$usage" >/dev/null 2>"$WORK/$label.log" &
    PID[$label]=$!
done
for case in "${CASES[@]}"; do
    read -r label _ <<<"$case"
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:${PORT[$label]}/healthz" >/dev/null && break; sleep 0.1; done
    kill -0 "${PID[$label]}" 2>/dev/null || { echo "the $label server did not start" >&2; cat "$WORK/$label.log" >&2; exit 1; }
done

# Fills every cache with every key (the small caches keep what fits).
warm() {
    local label=$1
    KEYWARD_KEYS=${FILE[$label]} KEYWARD_SEQUENTIAL=1 wrk -t2 -c16 -d"$(( KEYS / 10000 + 3 ))s" \
        -s benches/load/random_keys.lua "http://127.0.0.1:${PORT[$label]}/v1/verify" >/dev/null
}

# CPU ticks (user + system) a process has used.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One measurement: "req/s p50-ms p99-ms non-2xx server-cpu-us/request".
# The server's CPU per request is the fair comparison on shared cores: the
# load generator does more work per verify request (a random key, a body)
# than per /healthz request, on the same cores.
measure() {
    local label=$1 path=$2 before
    before=$(ticks "${PID[$label]}")
    measure_wrk "$@" | { read -r rps p50 p99 bad n; echo "$rps $p50 $p99 $bad $(awk -v t=$(( $(ticks "${PID[$label]}") - before )) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"; }
}

measure_wrk() {
    local label=$1 path=$2
    if [ "$path" = /healthz ]; then
        wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:${PORT[$label]}/healthz"
    else
        KEYWARD_KEYS=${FILE[$label]} wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
            -s benches/load/random_keys.lua "http://127.0.0.1:${PORT[$label]}/v1/verify"
    fi | awk -f benches/load/wrk_summary.awk
}

RAW=$WORK/raw.txt
for round in $(seq "$ROUNDS"); do
    for k in $(seq 0 $((${#CASES[@]} - 1))); do
        read -r label _ <<<"${CASES[$(((round + k) % ${#CASES[@]}))]}"
        # Verify right after the warm-up: the cache's TTL (60 s) must not
        # run out during the cached cases' measurement.
        warm "$label"
        echo "$round $label verify $(measure "$label" /v1/verify)" >>"$RAW"
        echo "$round $label healthz $(measure "$label" /healthz)" >>"$RAW"
    done
    echo "round $round of $ROUNDS done" >&2
done
for case in "${CASES[@]}"; do
    read -r label _ <<<"$case"
    echo "$label: $(curl -s "http://127.0.0.1:${PORT[$label]}/metrics" | grep -E '^keyward_cache_(hits|misses)_total' | tr '\n' ' ')"
done
echo "Raw (round case endpoint req/s p50-ms p99-ms non-2xx server-cpu-us/request):"
sed 's/^/    /' "$RAW"
python3 - "$RAW" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r, label, what, rps, p50, p99, bad, cpu = line.split()
    assert bad == "0", f"non-2xx answers: {line}"
    rows.setdefault((label, what), {})[int(r)] = (float(rps), float(p50), float(p99), float(cpu))
def spread(values, fmt="{:.2f}"):
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"
labels = sorted({l for l, _ in rows}, key=lambda l: (l.startswith("pg"), l))
print()
print("| case | verify req/s | verify / healthz (req/s) | server CPU per verify | healthz / verify (server CPU) | verify p50 | verify p99 |")
print("|---|---|---|---|---|---|---|")
for label in labels:
    v, h = rows[(label, "verify")], rows[(label, "healthz")]
    rounds = sorted(v)
    print(f"| {label} | {spread([v[r][0] for r in rounds], '{:.0f}')} | {spread([v[r][0] / h[r][0] for r in rounds])} | "
          f"{spread([v[r][3] for r in rounds], '{:.1f}')} us | {spread([h[r][3] / v[r][3] for r in rounds])} | "
          f"{spread([v[r][1] for r in rounds])} ms | {spread([v[r][2] for r in rounds])} ms |")
for store in ("sqlite", "pg"):
    on, off = rows[(f"{store}-cached", "verify")], rows[(f"{store}-cached-nocount", "verify")]
    cost = [1 - on[r][0] / off[r][0] for r in sorted(on)]
    cpu = [on[r][3] / off[r][3] - 1 for r in sorted(on)]
    print(f"\n{store}: usage counting costs {spread([c * 100 for c in cost], '{:.1f}')} % of verify throughput and "
          f"{spread([c * 100 for c in cpu], '{:.1f}')} % more server CPU per verify (cached keys, both cores busy)")
PY
