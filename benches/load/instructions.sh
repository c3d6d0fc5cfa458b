#!/usr/bin/env bash
# User-space instructions per request of `keyward serve`, counted by
# callgrind: repeatable whatever else the machine is doing, unlike times.
# For /healthz, /v1/verify and /v1/authz it runs the server under callgrind
# twice, for N and 3N keep-alive requests from benches/load/client.py, and divides
# the difference by 2N (so start-up and shutdown cancel out). Prints the
# per-request totals and the functions whose inclusive cost per request
# differs most from /healthz's.
#
# Kernel work (TCP, scheduling) is not counted; under valgrind SHA-256 runs
# without the CPU's SHA extensions, so a verify's hashing counts several
# times what it costs natively.
#
# Needs valgrind and python3. Usage: benches/load/instructions.sh [N, default 2000]
# KEYWARD_BIN=path/to/keyward counts that binary instead of building this
# tree's (to compare two commits).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-2000}
PORT=18190
command -v valgrind >/dev/null || { echo "valgrind is needed (apt install valgrind)" >&2; exit 1; }
if [ -n "${KEYWARD_BIN:-}" ]; then
    BIN=$(realpath "$KEYWARD_BIN")
else
    cargo build --release -q -p keyward
    BIN=target/release/keyward
fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BIN" admin list-keys --data-dir "$WORK/data" >/dev/null
KEY=$("$BIN" keys create --data-dir "$WORK/data" --account acme --name bench --scope campaigns:read)

# Total instructions of one server run serving $2 requests to $1.
run() {
    local endpoint=$1 count=$2 out="$WORK/cg-$1-$2.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
    KEYWARD_KEY=$KEY python3 benches/load/client.py "$PORT" "$endpoint" "$count"
    kill -INT $pid
    wait $pid || true
    echo "$out"
}

declare -A FILES
for endpoint in healthz verify authz; do
    small=$(run $endpoint "$N")
    large=$(run $endpoint $((3 * N)))
    FILES[$endpoint]="$small $large"
done
python3 - "$N" "${FILES[healthz]}" "${FILES[verify]}" "${FILES[authz]}" <<'EOF'
import re, subprocess, sys

n = int(sys.argv[1])

def inclusive(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    costs = {}
    for line in out.splitlines():
        # A function's own line names its object file in brackets; lines
        # without it are pieces inlined from other files, already included.
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+([^ ]+?):(.*) \[[^\]]*\]$", line)
        if m:
            costs[m.group(3)] = int(m.group(1).replace(",", ""))
        elif "PROGRAM TOTALS" in line:
            costs["PROGRAM TOTALS"] = int(line.split()[0].replace(",", ""))
    return costs

per_request = {}
for label, files in zip(("healthz", "verify", "authz"), sys.argv[2:]):
    small, large = (inclusive(f) for f in files.split())
    per_request[label] = {k: (large.get(k, 0) - small.get(k, 0)) / (2 * n) for k in large}

total = {k: v["PROGRAM TOTALS"] for k, v in per_request.items()}
print(f"User-space instructions per request (N = {n}):")
print()
print("| endpoint | instructions | x healthz |")
print("|---|---:|---:|")
for k, v in total.items():
    print(f"| {k} | {v:,.0f} | {v / total['healthz']:.2f} |")
for label in ("verify", "authz"):
    print()
    print(f"Functions costing {label} most beyond healthz (inclusive, per request):")
    base = per_request["healthz"]
    rows = sorted(per_request[label].items(), key=lambda kv: -(kv[1] - base.get(kv[0], 0)))
    shown = 0
    for name, cost in rows:
        if "keyward::" in name and shown < 12:
            print(f"  {cost - base.get(name, 0):8,.0f}  {name[:150]}")
            shown += 1
EOF
