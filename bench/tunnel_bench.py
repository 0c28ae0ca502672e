"""`python -m bench.tunnel_bench`: what tunnelling a terminal to its session's owner node costs.

Two Tandem nodes with Docker terminals on one PostgreSQL database and a private redis-server
(never the shared one). One session's terminal runs on node A (the first client made A its
owner). In the same run, the keystroke-to-echo latency and the output throughput are measured
for a client on A (direct: the reference) and a client on B (every byte crosses the bus twice:
B -> Redis -> A for input, A -> Redis -> B for output). Prints p50/p99 and the ratios.

    python -m bench.tunnel_bench [--keys 200] [--mbytes 20]

Loopback only, bounded in count and time. Needs a Docker engine and the test image
(`python -m sandbox.images build-test`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import anyio
from websockets.asyncio.client import connect

from bench.crossnode import postgres_database, private_redis
from bench.servers import ROOT, _wait_http, free_port
from bench.terminal_bench import TermReader, bench_pty_over_ws, pct, remove_instance

PHASE_TIMEOUT = 180.0


def start_node(
    database_url: str, redis_url: str, data: Path, image: str, instance: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = [sys.executable, "-m", "backend", "serve", "--no-auth", "--port", str(port), "--data", str(data)]
    args += ["--database-url", database_url]
    env = {
        **os.environ,
        "TANDEM_LOG_LEVEL": "warning",
        "TANDEM_REDIS_URL": redis_url,
        "TANDEM_SANDBOX": "docker",
        "TANDEM_SANDBOX_IMAGE": image,
        "TANDEM_SANDBOX_INSTANCE": instance,
    }
    data.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_http(port, proc)
    return proc, port


async def measure(owner_port: int, client_port: int, keys: int, nbytes: int) -> tuple[list[float], float]:
    session = f"tun-bench-{uuid.uuid4().hex[:8]}"
    # The owner: the first connection, on node A, stays open for the whole measurement.
    async with connect(f"ws://127.0.0.1:{owner_port}/term/{session}/main", max_size=None) as anchor:
        anchor_reader = TermReader(anchor)
        await anchor.send(b"echo OWNER-$((0+1))\n")
        await anchor_reader.until(b"OWNER-1", 0)
        async with anyio.create_task_group() as tg:

            async def drain() -> None:
                async for _ in anchor:
                    pass

            tg.start_soon(drain)
            url = f"ws://127.0.0.1:{client_port}/term/{session}/main"
            async with connect(url, max_size=None) as ws:
                reader = TermReader(ws)
                await ws.send(b"echo READY-$((0+1))\n")
                await reader.until(b"READY-1", 0)
                result = await bench_pty_over_ws(ws, reader, keys, nbytes)
            tg.cancel_scope.cancel()
    return result


async def run(args: argparse.Namespace) -> None:
    nbytes = int(args.mbytes * 1e6)
    instances = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    rows: list[tuple[str, list[float], float]] = []
    with tempfile.TemporaryDirectory(prefix="tandem-tunbench-") as tmp, postgres_database() as db:
        with private_redis(Path(tmp)) as redis_url:
            a = start_node(db, redis_url, Path(tmp) / "a", args.image, instances[0])
            b = start_node(db, redis_url, Path(tmp) / "b", args.image, instances[1])
            try:
                for label, port in (
                    ("direct (client on the owner)", a[1]),
                    ("tunnelled (client on B)", b[1]),
                ):
                    print(f"  {label}...", file=sys.stderr, flush=True)
                    with anyio.fail_after(PHASE_TIMEOUT):
                        lat, mbps = await measure(a[1], port, args.keys, nbytes)
                    rows.append((label, lat, mbps))
            finally:
                for proc, _port in (a, b):
                    proc.terminate()
                    proc.wait(timeout=30)
                for instance in instances:
                    await remove_instance(instance)
    print(f"\nterminal through a tunnel: {args.keys} keystrokes, {args.mbytes:g} MB of output")
    print(f"{'path':<32}{'echo p50 ms':>13}{'echo p99 ms':>13}{'MB/s':>9}")
    for label, lat, mbps in rows:
        print(f"{label:<32}{pct(lat, 50):>13.2f}{pct(lat, 99):>13.2f}{mbps:>9.1f}")
    (_, direct, direct_mbps), (_, tunnel, tunnel_mbps) = rows
    print(
        f"tunnelled / direct: echo p50 x{pct(tunnel, 50) / pct(direct, 50):.2f}, "
        f"p99 x{pct(tunnel, 99) / pct(direct, 99):.2f}, throughput x{tunnel_mbps / direct_mbps:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tunnel_bench", description=__doc__)
    parser.add_argument("--image", default="tandem-sandbox-test:latest")
    parser.add_argument("--keys", type=int, default=200, help="keystrokes per latency run (max 2000)")
    parser.add_argument("--mbytes", type=float, default=20, help="MB of output per run (max 200)")
    args = parser.parse_args()
    args.keys, args.mbytes = min(args.keys, 2000), min(args.mbytes, 200)
    anyio.run(run, args)


if __name__ == "__main__":
    main()
