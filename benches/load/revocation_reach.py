"""Revocation reach, as a distribution: how long after a revoke answered on
node A does node B refuse the key? Two `keyward serve` processes share one
store (a SQLite file, or a fresh PostgreSQL database); COUNT keys are
created on A; each is verified on B (so B has it cached) right before it is
revoked on A, and B is asked about it, over a keep-alive connection, until it says
REVOKED. Prints p50 / p90 / p99 / max in milliseconds.

Usage: python3 benches/load/revocation_reach.py sqlite|postgres [COUNT=1000]
(KEYWARD_BIN, default target/release/keyward; PostgreSQL from
KEYWARD_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test)"""

import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("KEYWARD_BIN", "target/release/keyward")
CATALOG = "examples/catalogs/coldsend.toml"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(store_args, port, work):
    log = open(os.path.join(work, f"node-{port}.log"), "w")
    process = subprocess.Popen(
        [BIN, "serve", "--listen", f"127.0.0.1:{port}", "--config", CATALOG, *store_args],
        stdout=subprocess.PIPE, stderr=log, text=True)
    for line in process.stdout:
        if line.startswith("keyward listening on"):
            break
    return process


def call(connection, method, path, body=None, key=None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def main(store, count):
    work = tempfile.mkdtemp()
    processes = []
    try:
        if store == "sqlite":
            store_args = ["--data-dir", work]
            subprocess.run([BIN, "admin", "list-keys", "--data-dir", work], check=True, capture_output=True)
            management = subprocess.run(
                [BIN, "admin", "create-key", "--name", "bench", "--data-dir", work],
                check=True, capture_output=True, text=True).stdout.strip()
        else:
            import urllib.parse
            admin = os.environ.get("KEYWARD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
            name = "keyward_bench_reach"
            psql = ["psql", admin, "-q", "-c"]
            subprocess.run(psql + [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True)
            subprocess.run(psql + [f"CREATE DATABASE {name}"], check=True)
            url = urllib.parse.urlunparse(urllib.parse.urlparse(admin)._replace(path=f"/{name}"))
            store_args = ["--database-url", url]
            management = subprocess.run(
                [BIN, "admin", "create-key", "--name", "bench", *store_args],
                check=True, capture_output=True, text=True).stdout.strip()
        port_a, port_b = free_port(), free_port()
        processes = [start(store_args, port_a, work), start(store_args, port_b, work)]
        a = http.client.HTTPConnection("127.0.0.1", port_a)
        b = http.client.HTTPConnection("127.0.0.1", port_b)
        keys = []
        for i in range(count):
            status, created = call(a, "POST", "/v1/keys",
                                   {"account": "acme", "name": f"k{i}", "scopes": ["campaigns:read"]}, management)
            assert status == 201, created
            keys.append((created["id"], created["key"]))
        for _, key in keys:
            assert call(b, "POST", "/v1/verify", {"key": key})[1]["code"] == "VALID"
        reach = []
        polls = 0
        for key_id, key in keys:
            # B holds the key in its cache right before the revoke (a warm-up
            # long ago could have expired with the cache TTL, and an uncached
            # key is refused at once: that would flatter the result).
            assert call(b, "POST", "/v1/verify", {"key": key})[1]["code"] == "VALID"
            # Revokes come at random moments, not in step with B's polling
            # of the change feed (in step, every one would wait a whole
            # interval).
            time.sleep(random.uniform(0, 0.25))
            status, _ = call(a, "POST", f"/v1/keys/{key_id}/revoke", None, management)
            assert status == 200
            revoked_at = time.perf_counter()
            while True:
                polls += 1
                if call(b, "POST", "/v1/verify", {"key": key})[1]["code"] == "REVOKED":
                    break
            reach.append((time.perf_counter() - revoked_at) * 1000)
        reach.sort()
        pick = lambda q: reach[min(len(reach) - 1, int(q * len(reach)))]
        print(f"{store}: {count} revokes, node B refused the key after (ms): "
              f"p50 {pick(0.50):.1f}, p90 {pick(0.90):.1f}, p99 {pick(0.99):.1f}, max {reach[-1]:.1f} "
              f"({polls} polls of node B)")
    finally:
        for p in processes:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
