#!/usr/bin/env python3
"""STOW-RS A/B of two MiniVNA builds under the same drift: both servers up at once, requests
alternating one by one, each server's data folder in a fresh folder of its own.

Run by hand from the repository root after two release builds (not part of CI):

    python3 Benchmarks/stow_ab.py --a PATH --b PATH [--instances 4000] [--per-request 1]
                                  [--rounds 2] [--data-root DIR]

Sequential runs of Benchmarks/stow_qido.py on this VM differ by tens of percent (its speed
drifts, and ext4 without a journal makes file creation slow for minutes after a run deleted its
folders): too much to tell a 10% change. Here both builds meet the same moment. For each build
it prints requests per second over the alternating requests, p50/p95 latency, and server CPU
(utime + stime) per instance; the order within each pair alternates from round to round.

Uses the stow_qido.py corpus (generated on first use) and its server start-up.
"""
from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stow_qido as sq  # noqa: E402


def post(connection: http.client.HTTPConnection, body: bytes) -> int:
    connection.request("POST", "/dicom-web/studies", body=body,
                       headers={**sq.STOW_HEADERS, "Content-Length": str(len(body))})
    response = connection.getresponse()
    response.read()
    return response.status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="first MiniVNA binary (e.g. the build before a change)")
    parser.add_argument("--b", required=True, help="second MiniVNA binary")
    parser.add_argument("--instances", type=int, default=4000, help="instances stored into each server per round")
    parser.add_argument("--per-request", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    for binary in (args.a, args.b):
        if not Path(binary).exists():
            print(f"MiniVNA binary not found: {binary}", file=sys.stderr)
            return 2
    files = sq.corpus_files(20000)[: args.instances]
    bodies = [sq.multipart_body(files[i:i + args.per_request]) for i in range(0, len(files), args.per_request)]
    totals = {name: {"times": [], "cpu": 0.0, "instances": 0} for name in ("A", "B")}
    root = Path(tempfile.mkdtemp(prefix="stow-ab-", dir=args.data_root))
    try:
        for round_number in range(args.rounds):
            servers = {}
            for name, binary in (("A", args.a), ("B", args.b)):
                data = root / f"{name}-{round_number}"
                servers[name] = sq.start_minivna(Path(binary), data, root / f"{name}-{round_number}.log", name=name)
            connections = {}
            for name, server in servers.items():
                host, port = server.base.split("//")[1].split("/")[0].split(":")
                connections[name] = http.client.HTTPConnection(host, int(port), timeout=60)
            cpu_before = {name: sq.cpu_seconds(server.proc.pid) or 0.0 for name, server in servers.items()}
            order = ["A", "B"] if round_number % 2 == 0 else ["B", "A"]
            for body in bodies:
                for name in order:
                    t0 = time.perf_counter()
                    status = post(connections[name], body)
                    elapsed = time.perf_counter() - t0
                    if status != 200:
                        raise RuntimeError(f"{name}: STOW answered {status}")
                    totals[name]["times"].append(elapsed)
            time.sleep(0.5)   # background work after the last response (the relay) counts too
            for name, server in servers.items():
                totals[name]["cpu"] += (sq.cpu_seconds(server.proc.pid) or 0.0) - cpu_before[name]
                totals[name]["instances"] += len(files)
                connections[name].close()
                server.stop()
    finally:
        sq.cleanup_children()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.instances} instances x {args.rounds} rounds, {args.per_request} per request, requests alternating")
    print(f"{'build':6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/instance':>16}")
    for name, binary in (("A", args.a), ("B", args.b)):
        times = sorted(totals[name]["times"])
        rate = len(times) / sum(times)
        p95 = times[int(len(times) * 0.95)]
        cpu = totals[name]["cpu"] * 1000 / totals[name]["instances"]
        print(f"{name:6} {rate:8.0f} {statistics.median(times) * 1000:8.2f} {p95 * 1000:8.2f} {cpu:16.3f}   {binary}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sq.cleanup_children()
        sys.exit(130)
