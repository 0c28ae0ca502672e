"""Terminal benchmark: keystroke-to-echo latency, output throughput and container cold start,
through Tandem's `/term` WebSocket path next to a bare local PTY and a raw `docker exec` PTY.

    python bench/terminal_bench.py [--image tandem-sandbox-test:latest] [--keys 200] [--mbytes 50]

Loopback only; every phase is bounded in count and time. Needs a Docker engine and the image
(`tandem sandbox build-image --test`). Starts its own `tandem serve --no-auth` on a free port.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiodocker
import anyio
import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import DockerSandbox, LocalPty, Pty, SandboxSpec  # noqa: E402

PHASE_TIMEOUT = 120.0
# People type a key every 50-200 ms; back-to-back keys would measure the hub's 16 ms output
# coalescing (a burst is framed), not a keystroke's echo after a pause.
KEY_GAP = 0.05
END = b"END-2"  # `echo END-$((1+1))` prints it; the typed command line does not contain it


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def flood_command(nbytes: int) -> bytes:
    line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return f"yes {line} | head -c {nbytes}; echo END-$((1+1))\n".encode()


# -- a Pty (local or docker exec) -----------------------------------------------------------------


class PtyReader:
    def __init__(self, pty: Pty) -> None:
        self.pty = pty
        self.buf = bytearray()

    async def until(self, needle: bytes, start: int) -> None:
        while self.buf.find(needle, start) < 0:
            # Search only what is new (plus a needle's overlap): the scan stays linear.
            start = max(start, len(self.buf) - len(needle))
            chunk = await self.pty.read()
            if not chunk:
                raise EOFError("pty closed")
            self.buf += chunk
            if len(self.buf) > 1 << 20:  # keep the tail only (markers are short)
                cut = len(self.buf) - 4096
                del self.buf[:cut]
                start = max(0, start - cut)


async def bench_pty(pty: Pty, keys: int, nbytes: int) -> tuple[list[float], float]:
    reader = PtyReader(pty)
    await pty.write(b"stty -echoctl 2>/dev/null; echo READY-$((0+1))\n")
    await reader.until(b"READY-1", 0)
    await pty.write(b"cat\n")  # the line discipline echoes each key (canonical mode)
    await anyio.sleep(0.2)
    latencies = []
    for i in range(keys):
        await anyio.sleep(KEY_GAP)
        key = bytes([97 + i % 26])
        start = len(reader.buf)
        t0 = time.perf_counter()
        await pty.write(key)
        await reader.until(key, start)
        latencies.append((time.perf_counter() - t0) * 1000)
    await pty.write(b"\x03")  # ^C ends cat
    await anyio.sleep(0.2)
    start = len(reader.buf)
    t0 = time.perf_counter()
    await pty.write(flood_command(nbytes))
    await reader.until(END, start)
    return latencies, nbytes / (time.perf_counter() - t0) / 1e6


# -- Tandem's /term --------------------------------------------------------------------------------


class TermReader:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.buf = bytearray()
        self.total = 0

    async def until(self, needle: bytes, start: int) -> None:
        while self.buf.find(needle, start) < 0:
            start = max(start, len(self.buf) - len(needle))
            message = await self.ws.recv()
            if isinstance(message, bytes):
                self.buf += message
                self.total += len(message)
                if len(self.buf) > 1 << 20:
                    cut = len(self.buf) - 4096
                    del self.buf[:cut]
                    start = max(0, start - cut)


async def drain(ws: ClientConnection) -> None:
    async for _ in ws:
        pass


async def bench_tandem(port: int, viewers: int, keys: int, nbytes: int) -> tuple[list[float], float]:
    url = f"ws://127.0.0.1:{port}/term/bench-{uuid.uuid4().hex[:8]}/main"
    async with connect(url, max_size=None) as typist, anyio.create_task_group() as tg:
        reader = TermReader(typist)
        await typist.send(b"echo READY-$((0+1))\n")
        await reader.until(b"READY-1", 0)
        conns = []
        for _ in range(viewers):  # watchers besides the typist
            ws = await connect(url, max_size=None)
            conns.append(ws)
            tg.start_soon(drain, ws)
        latencies, mbps = await bench_pty_over_ws(typist, reader, keys, nbytes)
        for ws in conns:
            await ws.close()
        tg.cancel_scope.cancel()
    return latencies, mbps


async def bench_pty_over_ws(
    ws: ClientConnection, reader: TermReader, keys: int, nbytes: int
) -> tuple[list[float], float]:
    await ws.send(b"cat\n")
    await anyio.sleep(0.2)
    latencies = []
    for i in range(keys):
        await anyio.sleep(KEY_GAP)
        key = bytes([97 + i % 26])
        start = len(reader.buf)
        t0 = time.perf_counter()
        await ws.send(key)
        await reader.until(key, start)
        latencies.append((time.perf_counter() - t0) * 1000)
    await ws.send(b"\x03")
    await anyio.sleep(0.2)
    start = len(reader.buf)
    t0 = time.perf_counter()
    await ws.send(flood_command(nbytes))
    await reader.until(END, start)
    return latencies, nbytes / (time.perf_counter() - t0) / 1e6


async def tandem_first_prompt(port: int, n: int) -> list[float]:
    """Connect to a new session's terminal until the shell answers (room + container + exec)."""
    times = []
    for _ in range(n):
        url = f"ws://127.0.0.1:{port}/term/cold-{uuid.uuid4().hex[:8]}/main"
        t0 = time.perf_counter()
        async with connect(url, max_size=None) as ws:
            reader = TermReader(ws)
            await ws.send(b"echo UP-$((0+1))\n")
            await reader.until(b"UP-1", 0)
            times.append((time.perf_counter() - t0) * 1000)
    return times


# -- orchestration ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data: Path, image: str, instance: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "TANDEM_SANDBOX": "docker",
        "TANDEM_SANDBOX_IMAGE": image,
        "TANDEM_SANDBOX_INSTANCE": instance,
        "TANDEM_TERMINAL_MAX_SUBSCRIBERS": "64",
        "TANDEM_TERMINALS_PER_SESSION": "8",
    }
    args = [sys.executable, "-m", "backend", "serve", "--no-auth", "--port", str(port), "--data", str(data)]
    log = open(data / "server.log", "ab")  # the child owns it
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: see {data / 'server.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/sandbox", timeout=1).json().get("enabled"):
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not come up with terminals on")


async def remove_instance(instance: str) -> None:
    async with aiodocker.Docker() as docker:
        filters = json.dumps({"label": [f"tandem.instance={instance}"]})
        for c in await docker.containers.list(all=True, filters=filters):
            await c.delete(force=True)


async def timed(label: str, fn: Callable[[], Awaitable[object]]) -> object:
    print(f"  {label}...", file=sys.stderr, flush=True)
    with anyio.fail_after(PHASE_TIMEOUT):
        return await fn()


async def run(args: argparse.Namespace) -> None:
    rows: list[tuple[str, str, list[float], float | None]] = []
    nbytes = int(args.mbytes * 1e6)
    spec = SandboxSpec(image=args.image)
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    data = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    try:
        # Floors: a bare local PTY, and a raw `docker exec` PTY (aiodocker, no Tandem in the path).
        local = await LocalPty.spawn(["/bin/sh"], env={"PATH": os.environ["PATH"], "PS1": "$ "})
        try:
            lat, mbps = await timed("local PTY", lambda: bench_pty(local, args.keys, nbytes))
        finally:
            await local.aclose()
        rows.append(("local PTY (floor)", "-", lat, mbps))

        cold: list[float] = []
        async with DockerSandbox(spec, instance=instance, idle_timeout=None) as sandbox:
            for i in range(args.cold):
                t0 = time.perf_counter()
                await sandbox.ensure_container(f"cold-{i}", data / "raw" / str(i))
                cold.append((time.perf_counter() - t0) * 1000)
                await sandbox.remove(f"cold-{i}")
            await sandbox.ensure_container("raw", data / "raw" / "ws")
            pty = await sandbox.start_pty("raw", "main", 120, 40)
            try:
                lat, mbps = await timed("raw docker exec", lambda: bench_pty(pty, args.keys, nbytes))
            finally:
                await pty.aclose()
            rows.append(("raw docker exec (floor)", "-", lat, mbps))
            await sandbox.reap_orphans(())

        proc, port = start_server(data, args.image, instance)
        try:
            for viewers in args.viewers:
                lat, mbps = await timed(
                    f"tandem /term, {viewers} viewers",
                    lambda v=viewers: bench_tandem(port, v, args.keys, nbytes),
                )
                rows.append(("tandem /term", str(viewers), lat, mbps))
            prompt = await timed("tandem cold start", lambda: tandem_first_prompt(port, args.cold))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        await remove_instance(instance)
        shutil.rmtree(data, ignore_errors=True)

    print(f"\nkeystroke-to-echo ({args.keys} keys), output throughput ({args.mbytes:g} MB of `yes|head`)")
    print(f"{'path':<26}{'viewers':>8}{'echo p50 ms':>13}{'echo p99 ms':>13}{'MB/s':>9}")
    for name, viewers, lat, mbps in rows:
        print(f"{name:<26}{viewers:>8}{pct(lat, 50):>13.2f}{pct(lat, 99):>13.2f}{mbps or 0:>9.1f}")
    print(f"\ncold start ({args.cold} new sessions)      p50 ms   p99 ms")
    print(f"{'docker create + start (hardened)':<34}{pct(cold, 50):>8.1f}{pct(cold, 99):>9.1f}")
    print(f"{'tandem: connect -> shell answers':<34}{pct(prompt, 50):>8.1f}{pct(prompt, 99):>9.1f}")
    print(f"(mean echo through tandem, 1 viewer: {statistics.mean(rows[2][2]):.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", default="tandem-sandbox-test:latest")
    parser.add_argument("--keys", type=int, default=200, help="keystrokes per latency run (max 2000)")
    parser.add_argument("--mbytes", type=float, default=50, help="MB of output per throughput run (max 500)")
    parser.add_argument("--cold", type=int, default=10, help="cold starts to time (max 50)")
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 10, 50])
    args = parser.parse_args()
    args.keys, args.mbytes, args.cold = min(args.keys, 2000), min(args.mbytes, 500), min(args.cold, 50)
    args.viewers = [max(1, min(v, 60)) for v in args.viewers]
    anyio.run(run, args)


if __name__ == "__main__":
    main()
