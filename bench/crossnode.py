"""`python -m bench.crossnode`: what crossing nodes through Redis costs.

Two Tandem nodes on one PostgreSQL database and a private redis-server (never the shared one);
the fan-out scenario of `bench/node/loadgen.mjs` runs with writers on node A and readers either
on A too (the single-node baseline, same configuration) or on node B (every update crosses the
bus). Reports p50/p99 delivery latency of both and the extra latency, then the highest total
edit rate (10 writers -> 10 readers) each path sustains with p99 <= 100 ms and nothing missing.
Results go to bench/results/crossnode.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.loadgen import run_loadgen
from bench.servers import ROOT, Server, _wait_http, free_port

POSTGRES_ADMIN_URL = os.environ.get(
    "TANDEM_TEST_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RATE_STEPS = [100, 200, 400, 800, 1600, 3200]


@contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    name = f"tandem_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    port = free_port()
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([*args, "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                import time

                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()


def start_node(database_url: str, redis_url: str, data: Path) -> Server:
    port = free_port()
    args = [sys.executable, "-m", "backend", "serve", "--no-auth", "--port", str(port), "--data", str(data)]
    args += ["--database-url", database_url, "--sandbox", "off"]
    env = {**os.environ, "TANDEM_LOG_LEVEL": "warning", "TANDEM_REDIS_URL": redis_url}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_http(port, proc)
    return Server("tandem", proc, f"ws://127.0.0.1:{port}/yjs")


def fanout(
    a: Server, readers_on: Server, writers: int, readers: int, rate: int, seconds: int
) -> dict[str, Any]:
    room = f"xfan-{uuid.uuid4().hex[:8]}"
    args = ["--room", room, "--writers", str(writers), "--readers", str(readers)]
    args += ["--rate", str(rate), "--seconds", str(seconds)]
    if readers_on is not a:
        args += ["--reader-url", readers_on.ws_url]
    return run_loadgen(a, "fanout", *args)


def max_rate(a: Server, readers_on: Server, seconds: int, tries: int) -> int:
    """The highest step met by one of `tries` runs (a shared build machine makes single runs noisy)."""
    best = 0
    for rate in RATE_STEPS:
        for _ in range(tries):
            r = fanout(a, readers_on, 10, 10, rate, seconds)
            p99 = (r.get("latency_ms") or {}).get("p99")
            met = bool(r.get("ok")) and p99 is not None and p99 <= 100 and not r.get("missing")
            where = "same node" if readers_on is a else "cross node"
            print(f"  {where} 10->10 @{rate}/s: p99={p99} missing={r.get('missing')} -> {met}", flush=True)
            if met:
                break
        if not met:
            break
        best = rate
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crossnode", description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="length of each fan-out run")
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--no-max-rate", action="store_true")
    parser.add_argument("--tries", type=int, default=2, help="runs per max-rate step (best counts)")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tandem-xnode-") as tmp, postgres_database() as db:
        with private_redis(Path(tmp)) as redis_url:
            a = start_node(db, redis_url, Path(tmp) / "a")
            b = start_node(db, redis_url, Path(tmp) / "b")
            try:
                for label, readers_on in (("same node", a), ("cross node", b)):
                    r = fanout(a, readers_on, args.writers, args.readers, args.rate, args.seconds)
                    lat = r.get("latency_ms") or {}
                    key = f"{label} {args.writers}->{args.readers} @{args.rate}/s"
                    results[f"{key} p50 ms"] = lat.get("p50")
                    results[f"{key} p99 ms"] = lat.get("p99")
                    results[f"{key} missing"] = r.get("missing")
                    print(
                        f"{key}: p50={lat.get('p50')} p99={lat.get('p99')} missing={r.get('missing')}",
                        flush=True,
                    )
                for pct in ("p50", "p99"):
                    same = results[f"same node {args.writers}->{args.readers} @{args.rate}/s {pct} ms"]
                    cross = results[f"cross node {args.writers}->{args.readers} @{args.rate}/s {pct} ms"]
                    if same is not None and cross is not None:
                        results[f"extra latency crossing nodes {pct} ms"] = round(cross - same, 2)
                if not args.no_max_rate:
                    step = max(3, args.seconds // 2)
                    for label, readers_on in (("same node", a), ("cross node", b)):
                        best = max_rate(a, readers_on, step, args.tries)
                        results[f"{label} max sustained edits/s (p99<=100ms)"] = best
            finally:
                a.stop()
                b.stop()
    print()
    print("| metric | value |\n|---|---|")
    for metric, value in results.items():
        print(f"| {metric} | {value} |")
    out = ROOT / "bench" / "results" / "crossnode.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
