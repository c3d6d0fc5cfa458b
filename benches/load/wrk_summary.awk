# wrk --latency output -> "req/s p50-ms p99-ms non-2xx requests" on one line
# (used by proxy_cost.sh and real_keys.sh).
function ms(v) {
    if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 }
    if (v ~ /ms$/) { sub(/ms/, "", v); return v }
    sub(/s/, "", v); return v * 1000
}
/Requests\/sec/ { rps = $2 }
/Non-2xx/ { bad = $5 }
$1 == "50%" { p50 = ms($2) }
$1 == "99%" { p99 = ms($2) }
/requests in/ { n = $1 }
END { printf "%s %.3f %.3f %d %d\n", rps, p50, p99, bad, n }
