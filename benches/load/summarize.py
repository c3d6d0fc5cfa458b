"""Summarizes benches/load/load.sh's raw measurements: per case, the median and
range across rounds of each endpoint's throughput relative to /healthz
measured in the same round, of p99, of server CPU per request, and the cost
of usage counting (1k keys, usage on vs off, same round)."""

import statistics
import sys
from collections import defaultdict


def spread(values, fmt="{:.2f}"):
    values = sorted(values)
    return f"{fmt.format(statistics.median(values))} ({fmt.format(values[0])}-{fmt.format(values[-1])})"


def main(path):
    rows = defaultdict(dict)  # (round, case) -> endpoint -> (rps, p99, bad, cpu)
    for line in open(path):
        rnd, case, endpoint, rps, p99, bad, cpu = line.split()
        rows[(rnd, case)][endpoint] = (float(rps), float(p99), int(bad), float(cpu))
    order = ["1k-usage-on", "1k-usage-off", "1M-usage-on"]
    cases = sorted(dict.fromkeys(case for _, case in rows), key=lambda c: (order + [c]).index(c))

    print("Median (min-max) across rounds; x = req/s relative to /healthz in the same round; best = each")
    print("endpoint's best req/s of the run relative to /healthz's best (noise from other tenants only")
    print("ever slows a round down):")
    print()
    print("| case | healthz req/s | verify x healthz | authz x healthz | best: verify / authz x healthz "
          "| p99 ms healthz / verify / authz | server CPU us/request healthz / verify / authz | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        rounds = [m for (r, c), m in rows.items() if c == case]
        h = [m["healthz"][0] for m in rounds]
        v = [m["verify"][0] / m["healthz"][0] for m in rounds]
        a = [m["authz"][0] / m["healthz"][0] for m in rounds]
        p99 = " / ".join(f"{statistics.median(m[e][1] for m in rounds):.2f}" for e in ("healthz", "verify", "authz"))
        cpu = " / ".join(f"{statistics.median(m[e][3] for m in rounds):.2f}" for e in ("healthz", "verify", "authz"))
        bad = sum(m[e][2] for m in rounds for e in ("verify", "authz"))
        best = " / ".join(f"{max(m[e][0] for m in rounds) / max(h):.2f}" for e in ("verify", "authz"))
        print(f"| {case} | {spread(h, '{:.0f}')} | {spread(v)} | {spread(a)} | {best} | {p99} | {cpu} | {bad} |")

    on_off = []
    cpu_on_off = []
    for (rnd, case), m in rows.items():
        off = rows.get((rnd, "1k-usage-off"))
        if case == "1k-usage-on" and off:
            # Each server's verify relative to its own /healthz, then on vs off.
            on_off.append((m["verify"][0] / m["healthz"][0]) / (off["verify"][0] / off["healthz"][0]))
            cpu_on_off.append(m["verify"][3] / off["verify"][3])
    if on_off:
        def best(case, endpoint):
            return max(m[endpoint][0] for (r, c), m in rows.items() if c == case)

        best_on_off = (best("1k-usage-on", "verify") / best("1k-usage-on", "healthz")) / (
            best("1k-usage-off", "verify") / best("1k-usage-off", "healthz"))
        print()
        print("Usage counting, 1k keys: verify (x its healthz) with usage on / off, same round = "
              f"{spread(on_off, '{:.3f}')}, best of run = {best_on_off:.3f}; "
              f"server CPU per verify on / off, same round = {spread(cpu_on_off, '{:.3f}')}")


if __name__ == "__main__":
    main(sys.argv[1])
