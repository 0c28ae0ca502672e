"""History bytes per version and server memory across room load/unload cycles.

    python bench/history_memory.py [--files 300] [--kb 16] [--versions 12] [--cycles 4]

history: a session of `files` files of `kb` KB each (a multi-MB document, built with the pycrdt
client), then `versions` manual versions, each after a one-line edit to one file; prints the
bytes the history table holds for the session after each version.
memory: the server's RSS idle, after the same document was built, and after each of `cycles`
load (a client joins and syncs) / unload (it leaves, the room unloads) cycles of that room.

Loopback only; starts its own `tandem serve --no-auth --sandbox off` (SQLite) on a free port.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio
import httpx
from pycrdt import Map, Text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.access_client import Http  # noqa: E402
from tests.pyclient import pycrdt_client  # noqa: E402
from tests.support import TandemServer, eventually  # noqa: E402

ENV = {
    "TANDEM_HISTORY_IDLE_SECONDS": "3600",
    "TANDEM_HISTORY_MAX_INTERVAL_SECONDS": "3600",
    "TANDEM_ROOM_IDLE_UNLOAD_SECONDS": "0.5",
}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def history_bytes(db: Path, session: str) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        count, total = conn.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM session_version WHERE session = ?",
            (session,),
        ).fetchone()
    return int(count), int(total)


def rooms_loaded(srv: TandemServer) -> float:
    for line in httpx.get(srv.http_url + "/metrics", timeout=5).text.splitlines():
        if line.startswith("tandem_rooms_loaded "):
            return float(line.split()[1])
    return -1.0


async def wait_unloaded(srv: TandemServer, settle: float = 0.0) -> None:
    await eventually(lambda: rooms_loaded(srv) == 0, timeout=60, interval=0.1)
    await anyio.sleep(settle)  # the server trims its allocator a moment after an unload


def path(i: int) -> str:
    return f"src/pkg{i // 50}/mod{i}.py"


def content(i: int, kb: int) -> str:
    line = f"def function_{i}(x):  # some ordinary source text, {i}\n    return x * {i}\n"
    return line * max(1, kb * 1024 // len(line))


async def build(srv: TandemServer, room: str, files: int, kb: int) -> None:
    async with pycrdt_client(srv.ws_url, room) as (doc, provider):
        await provider.synced.wait()
        fmap = doc.get("files", type=Map)
        for i in range(files):
            fmap[path(i)] = Text(content(i, kb))
        # Wait until the server has it all: a second client sees every file.
        async with pycrdt_client(srv.ws_url, room) as (check, p2):
            await p2.synced.wait()
            await eventually(lambda: len(check.get("files", type=Map)) >= files, timeout=120)


async def bench_history(srv: TandemServer, args: argparse.Namespace) -> None:
    room = f"hist-{uuid.uuid4().hex[:8]}"
    http = Http(srv.http_url)
    await build(srv, room, args.files, args.kb)
    db = srv.data / "tandem.db"
    print(f"\nhistory: {args.files} files x {args.kb} KB; one-line edit to one file per version")
    print(f"{'version':>8}{'rows':>6}{'table MB':>10}{'this version bytes':>20}")
    async with pycrdt_client(srv.ws_url, room) as (doc, provider):
        await provider.synced.wait()
        fmap = doc.get("files", type=Map)
        last = 0
        for v in range(args.versions):
            text = fmap[path(v % args.files)]
            assert isinstance(text, Text)
            text.insert(0, f"# edit {v}\n")
            with anyio.fail_after(30):  # the server has the edit when a fresh client sees it
                while True:
                    async with pycrdt_client(srv.ws_url, room) as (check, p2):
                        await p2.synced.wait()
                        seen = check.get("files", type=Map).get(path(v % args.files))
                        if seen is not None and str(seen).startswith(f"# edit {v}\n"):
                            break
            r = http.post(f"/api/sessions/{room}/history")
            assert r.status_code == 201, r.text
            rows, total = history_bytes(db, room)
            print(f"{v + 1:>8}{rows:>6}{total / 1e6:>10.2f}{total - last:>20,}")
            last = total
    rows, total = history_bytes(db, room)
    print(f"mean bytes per version: {total / max(rows, 1) / 1e3:.1f} KB over {rows} versions")


async def bench_memory(srv: TandemServer, args: argparse.Namespace) -> None:
    assert srv.proc is not None
    pid = srv.proc.pid
    await wait_unloaded(srv, args.settle)
    cold = rss_mib(pid)
    # Idle after one small room came and went: the code paths a room uses are imported and warm.
    await build(srv, f"warm-{uuid.uuid4().hex[:8]}", 2, 1)
    await wait_unloaded(srv, args.settle)
    idle = rss_mib(pid)
    room = f"mem-{uuid.uuid4().hex[:8]}"
    await build(srv, room, args.files, args.kb)
    built = rss_mib(pid)
    await wait_unloaded(srv, args.settle)
    print(f"\nmemory: RSS {cold:.0f} MiB cold, {idle:.0f} MiB idle after a small room came and went;")
    print(f"{built:.0f} MiB with the {args.files}-file room built; after each unload:")
    print(f"{'cycle':>6}{'loaded MiB':>12}{'unloaded MiB':>14}")
    print(f"{0:>6}{built:>12.0f}{rss_mib(pid):>14.0f}")
    for cycle in range(1, args.cycles + 1):
        async with pycrdt_client(srv.ws_url, room) as (doc, provider):
            await provider.synced.wait()
            await eventually(lambda: len(doc.get("files", type=Map)) >= args.files, timeout=60)
            loaded = rss_mib(pid)
        await wait_unloaded(srv, args.settle)
        print(f"{cycle:>6}{loaded:>12.0f}{rss_mib(pid):>14.0f}")


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tandem-histmem-") as tmp:
        srv = TandemServer(Path(tmp), None, "--sandbox", "off", env=ENV).start()
        try:
            t0 = time.perf_counter()
            if "history" in args.phases:
                await bench_history(srv, args)
            if "memory" in args.phases:
                await bench_memory(srv, args)
            print(f"\n({time.perf_counter() - t0:.0f} s)")
        finally:
            srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--kb", type=int, default=16)
    parser.add_argument("--versions", type=int, default=12)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--settle", type=float, default=6.0, help="seconds after an unload before RSS")
    parser.add_argument("--phases", nargs="+", default=["history", "memory"])
    args = parser.parse_args()
    args.files, args.kb = max(1, min(args.files, 5000)), max(1, min(args.kb, 1024))
    args.versions, args.cycles = max(1, min(args.versions, 200)), max(1, min(args.cycles, 20))
    anyio.run(run, args)


if __name__ == "__main__":
    main()
