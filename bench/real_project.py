"""Real-project benchmark (#18): a ~1,200-file project from this environment's site-packages in a
session's workspace, on one `tandem serve` with SQLite and Docker terminals.

    python bench/real_project.py [--files 100] [--image tandem-sandbox-test:latest] [--nice -10] [--loop-cpu]
    python -m bench --only "real project" --targets tandem

Prints: ingest time (room open -> every file in a client's doc, no container), a simulated
`git checkout` (100 files, ~4 MB, rewritten from the host) until the editor's doc converges,
the worst stall meanwhile of other clients (a y-websocket round trip in another room, `/healthz`,
keystroke echo in another session's terminal) next to their idle worst, server RSS before,
after ingest, after the checkout and after everyone left and the room unloaded (against idle),
and history bytes per version (a version after ingest, a checkpoint; one after the checkout, a
delta). First-text time in Chromium (desktop, throttled phone) comes from bench/first_text.py
(on its own server).
`--nice` runs the server and probes at that niceness (a busy machine made quieter for them);
`--loop-cpu` adds the server's longest event-loop step (loop-thread CPU) during the checkout.
Loopback only; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
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
from pycrdt import Map

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.real_project_probes import NAMES, yclient  # noqa: E402
from bench.servers import Server, free_port  # noqa: E402
from tests.projects import copy_packages, text_files  # noqa: E402

PHASE_TIMEOUT = 120.0


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


def start_server(data: Path, image: str, instance: str, loop_cpu: bool = False) -> Server:
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
        # Versions only when the benchmark asks (after ingest, after the checkout).
        "TANDEM_HISTORY_IDLE_SECONDS": "3600",
        "TANDEM_HISTORY_MAX_INTERVAL_SECONDS": "3600",
    }
    if loop_cpu:  # bench/loopcpu: asyncio's loop, each loop iteration's CPU logged
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "bench" / "loopcpu"), env.get("PYTHONPATH")])
        )
        env["TANDEM_BENCH_LOOP_CPU_LOG"] = str(data / "loopcpu.log")
    log = open(data / "server.log", "ab")  # the child owns it
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 120  # a busy machine, or an engine check shared with other servers
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()  # never left running behind a failed start
            proc.wait()
            raise RuntimeError(f"server did not start: {(data / 'server.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return Server("tandem", proc, f"ws://127.0.0.1:{port}/yjs")


async def _until(predicate: Callable[[], bool], what: str) -> None:
    """Poll until `predicate()` holds (the benchmark's clients update their docs meanwhile)."""
    with anyio.fail_after(PHASE_TIMEOUT):
        while not predicate():  # noqa: ASYNC110 - the docs change under pycrdt, not via an event
            await anyio.sleep(0.005)


Row = dict[str, float | int | None]


async def measure(image: str, files: int, nice: int = 0, loop_cpu: bool = False) -> Row:
    out: Row = {}
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="tandem-realproj-") as tmp:
        data = Path(tmp)
        session = f"proj-{uuid.uuid4().hex[:8]}"
        root = data / "workspaces" / session
        texts = build_project(root)
        out["project text files"] = len(texts)
        out["project text MB"] = round(sum(len(t.encode()) for t in texts.values()) / 1e6, 1)
        server = start_server(data, image, instance, loop_cpu)
        if nice:
            out["nice (server and probes)"] = prioritize(server.pid, nice)
        http = server.ws_url.replace("ws://", "http://").removesuffix("/yjs")
        try:
            out["RSS idle MiB"] = round(server.rss_bytes() / 2**20)
            async with yclient(server.ws_url, session) as (doc, provider):
                files_map = doc.get("files", type=Map)
                t = time.perf_counter()
                await provider.synced.wait()
                await _until(lambda: len(files_map) >= len(texts), "ingest")
                out["ingest (room open -> all files) s"] = round(time.perf_counter() - t, 2)
                out["RSS after ingest MiB"] = round(server.rss_bytes() / 2**20)
                await take_version(http, session)  # the project as it came in: a checkpoint
            out.update(await checkout_with_probes(server, session, root, texts, files, nice))
            window = (out.pop("checkout window start"), out.pop("checkout window end"))
            if loop_cpu:
                out.update(loop_cpu_rows(data / "loopcpu.log", window))
            out["RSS after checkout MiB"] = round(server.rss_bytes() / 2**20)
            await take_version(http, session)  # the checkout: a delta
            out.update(history_rows(data / "tandem.db", session))
            out.update(await rss_after_unload(server, http, out["RSS idle MiB"]))
        finally:
            server.stop()
            async with aiodocker.Docker() as docker:
                filters = json.dumps({"label": [f"tandem.instance={instance}"]})
                for container in await docker.containers.list(all=True, filters=filters):
                    await container.delete(force=True)
    return out


def loop_cpu_rows(log: Path, window: tuple[float | int | None, float | int | None]) -> Row:
    """The longest loop iteration (loop-thread CPU) and garbage collection (wall time, with the
    GIL held) during the checkout, and the longest loop iteration before it."""
    start, end = window
    during, before, gc_during = 0.0, 0.0, 0.0
    lines = log.read_text().splitlines() if log.exists() else []
    for line in lines:
        stamp, ms, *rest = line.split()
        at, took = float(stamp), float(ms)
        inside = start is not None and end is not None and start <= at <= end
        if rest[:1] == ["gc"]:
            gc_during = max(gc_during, took) if inside else gc_during
        elif inside:
            during = max(during, took)
        elif start is not None and at < start:
            before = max(before, took)
    return {
        "longest loop step during checkout, CPU ms (asyncio loop)": round(during, 1),
        "longest garbage collection during checkout ms": round(gc_during, 1),
        "longest loop step before it (ingest, joins, a version), CPU ms": round(before, 1),
    }


def prioritize(pid: int, nice: int) -> int | None:
    """`--nice`: run the server and the probes at this niceness (a negative one needs root), so
    that on a machine shared with other work they are not starved of CPU: an approximation of a
    quiet machine. The Docker engine (terminal echo passes through it) keeps its own priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)  # the process's main thread; the rest below
        for task in Path(f"/proc/{pid}/task").iterdir():
            os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
    except OSError as exc:
        print(f"real project: --nice {nice} not applied ({exc})", file=sys.stderr)
        return None
    return nice


async def take_version(http: str, session: str) -> None:
    async with httpx.AsyncClient(base_url=http, timeout=60) as client:
        csrf = (await client.get("/api/auth/csrf")).json()["csrf_token"]  # the cookie comes along
        r = await client.post(f"/api/sessions/{session}/history", headers={"x-csrf-token": csrf})
        if r.status_code != 201:
            raise RuntimeError(f"taking a version: {r.status_code} {r.text[:200]}")


def history_rows(db: Path, session: str) -> Row:
    """What the history table holds for the session: one version after ingest (a checkpoint of
    the whole project) and one after the checkout (a delta), plus any the server took itself."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT length(data), base_id IS NULL FROM session_version WHERE session = ? ORDER BY id",
            (session,),
        ).fetchall()
    sizes = [int(n) for n, _ in rows]
    deltas = [int(n) for n, checkpoint in rows if not checkpoint]
    return {
        "history versions": len(sizes),
        "history bytes per version (mean)": round(sum(sizes) / max(len(sizes), 1)),
        "history bytes: checkpoint (whole project)": max(sizes, default=0),
        "history bytes: checkout version (delta)": deltas[-1] if deltas else None,
    }


async def rss_after_unload(server: Server, http: str, idle_mib: float | int | None) -> Row:
    """Everyone left: terminals hang up after 2 s, the rooms unload after 2 s idle, and the server
    trims its allocator a moment later; RSS then, against idle."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        body = (await anyio.to_thread.run_sync(httpx.get, http + "/metrics")).text
        line = next((x for x in body.splitlines() if x.startswith("tandem_rooms_loaded ")), "")
        if line.endswith(" 0.0") or line.endswith(" 0"):
            break
        await anyio.sleep(0.2)
    else:
        raise RuntimeError("the rooms did not unload within 90 s")
    await anyio.sleep(6)  # the trim runs 0.5 s after an unload, at most every 5 s
    rss = round(server.rss_bytes() / 2**20)
    over = round(100 * (rss - idle_mib) / idle_mib, 1) if idle_mib else None
    return {"RSS after unload MiB": rss, "RSS after unload over idle %": over}


async def checkout_with_probes(
    server: Server, session: str, root: Path, texts: dict[str, str], files: int, nice: int = 0
) -> Row:
    """A simulated `git checkout` from the host until the editor's doc converges, while the
    probes (another process) measure other clients; their worst idle and during the checkout."""
    out: Row = {}
    term_session = f"other-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
        [sys.executable, "-m", "bench.real_project_probes", server.ws_url, term_session],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    if nice:
        prioritize(proc.pid, nice)
    samples: list[tuple[float, str, float]] = []
    try:
        assert proc.stdout is not None
        reader = proc.stdout
        await anyio.to_thread.run_sync(reader.readline)  # "ready"
        async with yclient(server.ws_url, session) as (doc, provider):
            files_map = doc.get("files", type=Map)
            await provider.synced.wait()
            await anyio.sleep(1)  # the probes connect; a late first answer is not a stall
            idle_window = (time.time(), time.time() + 3)
            await anyio.sleep(3)  # the idle worst of each probe
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
            out["checkout window start"], out["checkout window end"] = busy_window
    finally:
        proc.terminate()
        rest, _ = await anyio.to_thread.run_sync(proc.communicate)
    for line in rest.splitlines():
        if line.strip():
            stamp, name, ms = json.loads(line)
            samples.append((stamp, name, ms))
    for name in NAMES:
        idle = [ms for t, n, ms in samples if n == name and idle_window[0] <= t <= idle_window[1]]
        busy = [ms for t, n, ms in samples if n == name and busy_window[0] <= t <= busy_window[1]]
        out[f"{name} worst idle ms"] = round(max(idle, default=0.0), 1)
        out[f"{name} worst during checkout ms"] = round(max(busy, default=0.0), 1)
    out["load average (1 min) at the end"] = round(os.getloadavg()[0], 2)
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
    parser.add_argument(
        "--loop-cpu",
        action="store_true",
        help="run the server on asyncio's loop; report its longest loop iteration (CPU) in the checkout",
    )
    parser.add_argument(
        "--nice", type=int, default=0, help="niceness of the server and probes (e.g. -10 on a busy machine)"
    )
    args = parser.parse_args()
    result = {**anyio.run(measure, args.image, args.files, args.nice, args.loop_cpu), **first_text()}
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
