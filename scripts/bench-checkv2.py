#!/usr/bin/env python3
"""Scan speed through rspamd's HTTP protocol: POST /checkv2 of every message under the given
folders to one server (mailmoat serve's [rspamd] listener, or rspamd itself), with N clients
at once, each request carrying the transaction headers an MTA sends (IP, Helo, From, Rcpt).

Prints messages per second, messages per CPU-second of the server (user + system time of the
given process ids and their children, read from /proc before and after), latency p50/p99 and
the actions answered. The same messages and machine for every server measured.

    scripts/bench-checkv2.py --target 127.0.0.1:11333 --pids "$(pgrep -d, rspamd)" DIR...
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import pathlib
import statistics
import sys
import time


def cpu_seconds(pids):
    """User + system seconds of these processes and their waited-for children."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 (1-based) of the full line.
        total += sum(int(x) for x in fields[11:15])
    return total / tick


def scan(target, path):
    body = path.read_bytes()
    host, port = target.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {
        "IP": "198.51.100.23",
        "Helo": "mail.sender.example",
        "From": "<sender@sender.example>",
        "Rcpt": "<bob@example.com>",
        "Content-Length": str(len(body)),
    }
    start = time.perf_counter()
    conn.request("POST", "/checkv2", body=body, headers=headers)
    reply = conn.getresponse()
    data = reply.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if reply.status != 200:
        return elapsed, f"http {reply.status}"
    return elapsed, json.loads(data).get("action", "?")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", required=True, help="host:port of the /checkv2 server")
    p.add_argument("--pids", default="", help="comma-separated server process ids")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--limit", type=int, default=0, help="at most this many messages")
    p.add_argument("folders", nargs="+")
    a = p.parse_args()
    files = sorted(f for d in a.folders for f in pathlib.Path(d).rglob("*") if f.is_file())
    if a.limit:
        files = files[: a.limit]
    pids = [int(x) for x in a.pids.split(",") if x.strip()]
    # One warm-up request (rspamd compiles some maps lazily).
    scan(a.target, files[0])
    cpu_before = cpu_seconds(pids)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(a.clients) as pool:
        results = list(pool.map(lambda f: scan(a.target, f), files))
    wall = time.perf_counter() - start
    cpu = cpu_seconds(pids) - cpu_before
    latencies = sorted(r[0] for r in results)
    actions = {}
    for _, action in results:
        actions[action] = actions.get(action, 0) + 1
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"{a.target}: {len(files)} messages, {a.clients} clients, {wall:.1f} s: "
        f"{len(files) / wall:.1f} msg/s; server CPU {cpu:.1f} s = "
        f"{(len(files) / cpu) if cpu > 0 else float('nan'):.1f} msg per CPU-second; "
        f"latency p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; "
        f"actions {dict(sorted(actions.items()))}"
    )


if __name__ == "__main__":
    sys.exit(main())
