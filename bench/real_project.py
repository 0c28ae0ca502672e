"""Real-project benchmark (#18): a ~1,200-file project from this environment's site-packages in a
session's workspace, on one `tandem serve` with SQLite and Docker terminals.

    python bench/real_project.py [--files 100] [--image tandem-sandbox-test:latest]
    python -m bench --only "real project" --targets tandem

Prints: ingest time (room open -> every file in a client's doc, no container), a simulated
`git checkout` (100 files, ~4 MB, rewritten from the host) until the editor's doc converges,
the worst stall meanwhile of other clients (a y-websocket round trip in another room, `/healthz`,
keystroke echo in another session's terminal) next to their idle worst, and server RSS before,
after ingest, after the checkout and after everyone left and the room unloaded.
Loopback only; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiodocker
import anyio
import httpx
from pycrdt import Doc, Map, Provider
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import Server, free_port  # noqa: E402
from tests.projects import copy_packages, text_files  # noqa: E402
from tests.pyclient import WebsocketChannel  # noqa: E402

PHASE_TIMEOUT = 120.0
PROBE_GAP = 0.02


def build_project(root: Path) -> dict[str, str]:
    copy_packages(root)
    texts, _ = text_files(root, 1024 * 1024)
    return {rel: data.decode() for rel, data in texts.items()}


def checkout_contents(texts: dict[str, str], files: int, seed: int = 1) -> dict[str, str]:
    """What another branch has: the largest files (~4 MB for 100), a third rewritten whole, the
    rest with scattered line edits (as `git checkout` of a branch a few weeks away would)."""
    rng = random.Random(seed)
    # The largest files under 100 KB: 100 of them are ~4 MB here, as in the project.
    sizes = {k: len(v) for k, v in texts.items() if len(v) < 100_000}
    chosen = sorted(sizes, key=lambda k: sizes[k], reverse=True)[:files]
    out: dict[str, str] = {}
    for n, rel in enumerate(chosen):
        lines = texts[rel].splitlines(keepends=True)
        if n % 3 == 0:
            lines.reverse()
            lines = [f"# rewritten {i}\n" if i % 5 == 0 else line for i, line in enumerate(lines)]
        else:
            for i in rng.sample(range(len(lines)), min(len(lines), 20)):
                lines[i] = f"    # changed on the other branch ({i})\n"
        out[rel] = "".join(lines)
    return out


def start_server(data: Path, image: str, instance: str) -> Server:
    port = free_port()
    args = [sys.executable, "-m", "backend", "serve", "--no-auth", "--port", str(port), "--data", str(data)]
    env = {
        **os.environ,
        "TANDEM_LOG_LEVEL": "warning",
        "TANDEM_SANDBOX": "docker",
        "TANDEM_SANDBOX_IMAGE": image,
        "TANDEM_SANDBOX_INSTANCE": instance,
        "TANDEM_ROOM_IDLE_UNLOAD_SECONDS": "2",
        "TANDEM_TERMINAL_DETACHED_CLOSE_SECONDS": "2",
    }
    log = open(data / "server.log", "ab")  # the child owns it
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {(data / 'server.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return Server("tandem", proc, f"ws://127.0.0.1:{port}/yjs")


class Probes:
    """Other people's experience, from a separate process (so this one's CPU never counts):
    each probe's latencies as (wall time, probe, ms) lines on its stdout."""

    def __init__(self, server: Server, term_session: str) -> None:
        self.server = server
        self.http = server.ws_url.replace("ws://", "http://").removesuffix("/yjs")
        self.term_url = server.ws_url.removesuffix("/yjs") + f"/term/{term_session}/main"
        self.samples: list[tuple[float, str, float]] = []

    def note(self, name: str, seconds: float) -> None:
        print(json.dumps([time.time(), name, seconds * 1000]), flush=True)

    def worst(self, since: float, until: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for t, name, ms in self.samples:
            if since <= t <= until:
                out[name] = max(out.get(name, 0.0), ms)
        return out

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._healthz)
            tg.start_soon(self._room_round_trip)
            tg.start_soon(self._terminal_echo)

    async def _healthz(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                t = time.perf_counter()
                await client.get(self.http + "/healthz")
                self.note("/healthz", time.perf_counter() - t)
                await anyio.sleep(PROBE_GAP)

    async def _room_round_trip(self) -> None:
        room = f"probe-{uuid.uuid4().hex[:8]}"
        async with _client(self.server.ws_url, room) as (a, pa), _client(self.server.ws_url, room) as (b, pb):
            await pa.synced.wait()
            await pb.synced.wait()
            seen = [anyio.Event()]
            watched = b.get("m", type=Map)
            subscription = watched.observe(lambda _event: seen[0].set())  # held: a dropped one ends
            try:
                n = 0
                while True:
                    n += 1
                    t = time.perf_counter()
                    seen[0] = anyio.Event()
                    a.get("m", type=Map)["ping"] = n
                    await seen[0].wait()
                    self.note("y-websocket round trip", time.perf_counter() - t)
                    await anyio.sleep(PROBE_GAP)
            finally:
                watched.unobserve(subscription)

    async def _terminal_echo(self) -> None:
        async with connect(self.term_url, max_size=None) as ws:
            buf = bytearray()
            while b"$ " not in buf:
                message = await ws.recv()
                if isinstance(message, bytes):
                    buf += message
            n = 0
            while True:
                n += 1
                t = time.perf_counter()
                await ws.send(b"a" if n % 50 else b"\x15")  # ^U clears the line now and then
                while True:
                    message = await ws.recv()
                    if isinstance(message, bytes):
                        break
                self.note("terminal echo", time.perf_counter() - t)
                await anyio.sleep(PROBE_GAP)


def probe_main(ws_url: str, term_session: str) -> None:
    probes = Probes(Server("tandem", None, ws_url), term_session)  # type: ignore[arg-type]
    print(json.dumps([time.time(), "ready", 0.0]), flush=True)
    anyio.run(probes.run)


class _client:  # used like a function
    def __init__(self, ws_url: str, room: str) -> None:
        self.url = f"{ws_url}/{room}"
        self.doc = Doc()

    async def __aenter__(self) -> tuple[Doc, Provider]:
        self._ws_cm = connect(self.url, max_size=None)
        ws = await self._ws_cm.__aenter__()
        self._prov_cm = Provider(self.doc, WebsocketChannel(ws, self.url))
        provider = await self._prov_cm.__aenter__()
        return self.doc, provider

    async def __aexit__(self, *exc: object) -> None:
        await self._prov_cm.__aexit__(None, None, None)
        await self._ws_cm.__aexit__(None, None, None)


async def _until(predicate: Callable[[], bool], what: str) -> None:
    """Poll until `predicate()` holds (the benchmark's clients update their docs meanwhile)."""
    with anyio.fail_after(PHASE_TIMEOUT):
        while not predicate():  # noqa: ASYNC110 - the docs change under pycrdt, not via an event
            await anyio.sleep(0.005)


async def measure(image: str, files: int) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {}
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="tandem-realproj-") as tmp:
        data = Path(tmp)
        session = f"proj-{uuid.uuid4().hex[:8]}"
        root = data / "workspaces" / session
        texts = build_project(root)
        out["project text files"] = len(texts)
        out["project text MB"] = round(sum(len(t.encode()) for t in texts.values()) / 1e6, 1)
        server = start_server(data, image, instance)
        try:
            out["RSS idle MiB"] = round(server.rss_bytes() / 2**20)
            async with _client(server.ws_url, session) as (doc, provider):
                files_map = doc.get("files", type=Map)
                t = time.perf_counter()
                await provider.synced.wait()
                await _until(lambda: len(files_map) >= len(texts), "ingest")
                out["ingest (room open -> all files) s"] = round(time.perf_counter() - t, 2)
                out["RSS after ingest MiB"] = round(server.rss_bytes() / 2**20)
            probes = Probes(server, f"other-{uuid.uuid4().hex[:8]}")
            proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
                [sys.executable, __file__, "--probe", server.ws_url, probes.term_url.rsplit("/", 2)[1]],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert proc.stdout is not None
                reader = proc.stdout
                started = time.time()
                await anyio.to_thread.run_sync(reader.readline)  # "ready"
                async with _client(server.ws_url, session) as (doc, provider):
                    files_map = doc.get("files", type=Map)
                    await provider.synced.wait()
                    await anyio.sleep(3)  # the idle worst of each probe
                    idle_window = (started, time.time())
                    wanted = checkout_contents(texts, files)
                    out["checkout files"] = len(wanted)
                    out["checkout MB"] = round(sum(len(t.encode()) for t in wanted.values()) / 1e6, 1)
                    pending = set(wanted)
                    touched: set[str] = set(wanted)

                    def on_files(events: list[Any]) -> None:
                        for event in events:
                            path = getattr(event, "path", None)
                            if path:
                                touched.add(str(path[0]))
                            else:
                                touched.update(str(k) for k in getattr(event, "keys", {}))

                    subscription = files_map.observe_deep(on_files)

                    def converged() -> bool:
                        for rel in list(touched & pending):
                            if rel in files_map and str(files_map[rel]) == wanted[rel]:
                                pending.discard(rel)
                        touched.clear()
                        return not pending

                    cpu0 = server.cpu_seconds()
                    t0 = time.time()
                    t = time.perf_counter()
                    for rel, text in wanted.items():
                        (root / rel).write_text(text)
                    await _until(converged, "checkout")
                    files_map.unobserve(subscription)
                    out["checkout converged s"] = round(time.perf_counter() - t, 2)
                    out["checkout server CPU s"] = round(server.cpu_seconds() - cpu0, 2)
                    await anyio.sleep(0.5)  # stalls right after convergence count too
                    busy_window = (t0, time.time())
                    out["RSS after checkout MiB"] = round(server.rss_bytes() / 2**20)
            finally:
                proc.terminate()
                rest, _ = await anyio.to_thread.run_sync(proc.communicate)
            for line in rest.splitlines():
                if line.strip():
                    stamp, name, ms = json.loads(line)
                    probes.samples.append((stamp, name, ms))
            idle, busy = probes.worst(*idle_window), probes.worst(*busy_window)
            for name in ("y-websocket round trip", "/healthz", "terminal echo"):
                out[f"{name} worst idle ms"] = round(idle.get(name, 0.0), 1)
                out[f"{name} worst during checkout ms"] = round(busy.get(name, 0.0), 1)
            # Everyone left: terminals hang up after 2 s, the rooms unload after 2 s idle.
            deadline = time.monotonic() + 60
            metrics_url = server.ws_url.replace("ws://", "http://").removesuffix("/yjs") + "/metrics"
            while time.monotonic() < deadline:
                body = (await anyio.to_thread.run_sync(httpx.get, metrics_url)).text
                line = next((x for x in body.splitlines() if x.startswith("tandem_rooms_loaded ")), "")
                if line.endswith(" 0.0") or line.endswith(" 0"):
                    break
                await anyio.sleep(0.2)
            out["RSS after unload MiB"] = round(server.rss_bytes() / 2**20)
        finally:
            server.stop()
            async with aiodocker.Docker() as docker:
                filters = json.dumps({"label": [f"tandem.instance={instance}"]})
                for container in await docker.containers.list(all=True, filters=filters):
                    await container.delete(force=True)
    return out


def real_project(server: Server) -> dict[str, float | int | None]:
    """`python -m bench` scenario: Tandem only (it starts its own server with Docker terminals)."""
    if server.name != "tandem":
        return {}
    out: dict[str, float | int | None] = {}
    try:
        out.update(anyio.run(measure, "tandem-sandbox-test:latest", 100))
    except (OSError, RuntimeError, aiodocker.DockerError) as exc:  # no engine or image: say so, go on
        print(f"real project: skipped ({exc})", file=sys.stderr)
    out.update(first_text())
    return out


def first_text() -> dict[str, float | int | None]:
    """First text in Chromium, desktop and a throttled phone (bench/first_text.py, its own server)."""
    from bench import first_text as bench_first_text

    try:
        return dict(bench_first_text.measure())
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"real project first text: skipped ({exc})", file=sys.stderr)
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", default="tandem-sandbox-test:latest")
    parser.add_argument("--files", type=int, default=100, help="files changed by the checkout")
    parser.add_argument("--probe", nargs=2, metavar=("WS_URL", "TERM_SESSION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe_main(*args.probe)
        return
    result = {**anyio.run(measure, args.image, args.files), **first_text()}
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
