#!/usr/bin/env bash
# What keyward costs a request that goes through your proxy (issue 12,
# goal 4): nginx with the `auth_request` example (examples/nginx/) in front
# of a static upstream, against the same nginx proxying to the same
# upstream without it; the same for Caddy with `forward_auth`
# (examples/caddy/Caddyfile). Throughput ratio and added p50 / p99 latency,
# all four measured in ROUNDS interleaved rounds in one run (the median and
# range across rounds are reported). keyward keeps its connections to the
# proxy alive (as the examples configure), uses the embedded SQLite store,
# and answers from its cache (one key, `campaigns:read`, on
# `GET /api/public/v1/campaigns`). Nothing is pinned: the proxies, keyward
# and wrk share the machine's cores, as they would on one box.
#
# Needs wrk, nginx (with auth_request) and Caddy
# (apt install wrk nginx-light caddy).
# Usage: benches/load/proxy_cost.sh [seconds per measurement, default 5] [rounds, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-5}
ROUNDS=${2:-5}
CONNECTIONS=${CONNECTIONS:-32}
for tool in wrk nginx caddy curl python3; do
    command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] || { echo "$tool is needed (apt install wrk nginx-light caddy curl python3)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q -p keyward
BIN=target/release/keyward
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
KW_NGINX=18190 KW_CADDY=18191 STATIC=18192 NGINX_AUTH=18193 NGINX_PLAIN=18194 CADDY_AUTH=18195 CADDY_PLAIN=18196
NGINX_HOP=18197 CADDY_HOP=18198 AUTHORIZER=18199
PATH_ASKED=/api/public/v1/campaigns

# A management key first: two servers starting at once on a new database
# would both try to write the first one.
"$BIN" admin create-key --data-dir "$WORK/kw" --name bench >/dev/null
KEY=$("$BIN" keys create --data-dir "$WORK/kw" --account acme --name bench --scope campaigns:read)
"$BIN" serve --data-dir "$WORK/kw" --listen "127.0.0.1:$KW_NGINX" >/dev/null 2>"$WORK/kw-nginx.log" &
"$BIN" serve --data-dir "$WORK/kw" --listen "127.0.0.1:$KW_CADDY" --forward-auth-headers forwarded >/dev/null 2>"$WORK/kw-caddy.log" &

EX=$PWD/examples
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    include $EX/nginx/keyward-http.conf;
    upstream keyward {
        server 127.0.0.1:$KW_NGINX;
        keepalive 32;
        keepalive_timeout 50s;
    }
    upstream static {
        server 127.0.0.1:$STATIC;
        keepalive 32;
    }
    upstream authorizer {
        server 127.0.0.1:$AUTHORIZER;
        keepalive 32;
    }
    # Through keyward.
    server {
        listen 127.0.0.1:$NGINX_AUTH;
        include $EX/nginx/keyward-auth.conf;
        location / {
            include $EX/nginx/keyward-protect.conf;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://static;
        }
    }
    # The proxy's own auth hop, to a static 200 (from its own process)
    # instead of keyward: what auth_request costs whoever answers it.
    server {
        listen 127.0.0.1:$NGINX_HOP;
        auth_request /_ok;
        location = /_ok {
            internal;
            proxy_pass http://authorizer;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://static;
        }
    }
    # The same, without keyward.
    server {
        listen 127.0.0.1:$NGINX_PLAIN;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://static;
        }
    }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
# A static answer on PORT from an nginx of its own (one worker): the API,
# and the floor of an auth hop (so that no proxy also does their work).
static_nginx() {
    local dir=$WORK/$1 port=$2
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "ok\n"; }
    }
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
}
static_nginx api "$STATIC"
static_nginx authorizer "$AUTHORIZER"

mkdir -p "$WORK/caddy"
cat >"$WORK/caddy/plain" <<EOF
{
	admin off
}
http://127.0.0.1:$CADDY_PLAIN {
	reverse_proxy 127.0.0.1:$STATIC
}
EOF
cat >"$WORK/caddy/hop" <<EOF
{
	admin off
}
http://127.0.0.1:$CADDY_HOP {
	route {
		forward_auth 127.0.0.1:$AUTHORIZER {
			uri /ok
			transport http {
				keepalive 50s
			}
		}
		reverse_proxy 127.0.0.1:$STATIC
	}
}
EOF
XDG_DATA_HOME=$WORK/caddy XDG_CONFIG_HOME=$WORK/caddy \
    caddy run --adapter caddyfile --config "$WORK/caddy/hop" >"$WORK/caddy/hop.log" 2>&1 &
XDG_DATA_HOME=$WORK/caddy XDG_CONFIG_HOME=$WORK/caddy KEYWARD=127.0.0.1:$KW_CADDY API=127.0.0.1:$STATIC \
    LISTEN=127.0.0.1:$CADDY_AUTH caddy run --adapter caddyfile --config "$EX/caddy/Caddyfile" >"$WORK/caddy/auth.log" 2>&1 &
XDG_DATA_HOME=$WORK/caddy XDG_CONFIG_HOME=$WORK/caddy \
    caddy run --adapter caddyfile --config "$WORK/caddy/plain" >"$WORK/caddy/plain.log" 2>&1 &

for port in $KW_NGINX $KW_CADDY $STATIC $AUTHORIZER $NGINX_AUTH $NGINX_PLAIN $CADDY_AUTH $CADDY_PLAIN $NGINX_HOP $CADDY_HOP; do
    for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
# Every case answers 200 to the key, and the keyward cases refuse without it.
for port in $NGINX_AUTH $NGINX_PLAIN $CADDY_AUTH $CADDY_PLAIN $NGINX_HOP $CADDY_HOP; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" "http://127.0.0.1:$port$PATH_ASKED")
    [ "$code" = 200 ] || { echo "port $port answered $code" >&2; cat "$WORK"/kw-*.log "$WORK"/nginx/error.log >&2; exit 1; }
done
for port in $NGINX_AUTH $CADDY_AUTH; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$PATH_ASKED")
    [ "$code" = 401 ] || { echo "port $port let a request without a key through ($code)" >&2; exit 1; }
done

# One measurement: "req/s p50-ms p99-ms non-2xx".
measure() {
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "X-API-Key: $KEY" "http://127.0.0.1:$1$PATH_ASKED" |
        awk -f benches/load/wrk_summary.awk | cut -d' ' -f1-4
}
for port in $NGINX_AUTH $NGINX_PLAIN $CADDY_AUTH $CADDY_PLAIN $NGINX_HOP $CADDY_HOP; do
    wrk -t1 -c4 -d1s -H "X-API-Key: $KEY" "http://127.0.0.1:$port$PATH_ASKED" >/dev/null
done

RAW=$WORK/raw.txt
CASES=("nginx-keyward $NGINX_AUTH" "nginx-plain $NGINX_PLAIN" "nginx-hop $NGINX_HOP"
    "caddy-keyward $CADDY_AUTH" "caddy-plain $CADDY_PLAIN" "caddy-hop $CADDY_HOP")
for round in $(seq "$ROUNDS"); do
    for k in $(seq 0 5); do
        read -r label port <<<"${CASES[$(((round + k) % 6))]}"
        echo "$round $label $(measure "$port")" >>"$RAW"
    done
    echo "round $round of $ROUNDS done" >&2
done
echo "Raw (round case req/s p50-ms p99-ms non-2xx):"
sed 's/^/    /' "$RAW"
python3 - "$RAW" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r, label, rps, p50, p99, bad = line.split()
    assert bad == "0", f"non-2xx answers in {line}"
    rows.setdefault(label, {})[int(r)] = (float(rps), float(p50), float(p99))
def spread(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
print()
print("| proxy | in front of the API | req/s | req/s / without auth | added p50 | added p99 |")
print("|---|---|---|---|---|---|")
for proxy in ("nginx", "caddy"):
    plain = rows[f"{proxy}-plain"]
    print(f"| {proxy} | no auth | {statistics.median(p[0] for p in plain.values()):.0f} | 1 | - | - |")
    for case, what in (("hop", "auth hop to a static 200"), ("keyward", "keyward (the example config)")):
        auth = rows[f"{proxy}-{case}"]
        rounds = sorted(auth)
        ratio = [auth[r][0] / plain[r][0] for r in rounds]
        p50 = [auth[r][1] - plain[r][1] for r in rounds]
        p99 = [auth[r][2] - plain[r][2] for r in rounds]
        print(f"| {proxy} | {what} | {statistics.median(a[0] for a in auth.values()):.0f} | {spread(ratio)} | "
              f"{spread(p50)} ms | {spread(p99)} ms |")
PY
