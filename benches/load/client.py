"""Sends COUNT keep-alive requests of one kind to a local keyward, one at a
time, and checks each answer is 200 (for benches/load/instructions.sh).

Usage: KEYWARD_KEY=... python3 benches/load/client.py PORT healthz|verify|authz COUNT"""

import http.client
import json
import os
import sys


def main(port, endpoint, count):
    key = os.environ["KEYWARD_KEY"]
    connection = http.client.HTTPConnection("127.0.0.1", int(port))
    # Bytes, so that head and body leave in one write, as wrk sends them.
    body = json.dumps({"key": key, "method": "GET", "path": "/api/public/v1/campaigns/42"}).encode()
    for _ in range(int(count)):
        if endpoint == "healthz":
            connection.request("GET", "/healthz")
        elif endpoint == "verify":
            connection.request("POST", "/v1/verify", body=body, headers={"Content-Type": "application/json"})
        else:
            connection.request("GET", "/v1/authz", headers={
                "X-API-Key": key,
                "X-Original-Method": "GET",
                "X-Original-URI": "/api/public/v1/campaigns/42?page=2",
            })
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"{endpoint}: HTTP {response.status}")


if __name__ == "__main__":
    main(*sys.argv[1:])
