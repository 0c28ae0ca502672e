"""Other people's experience during `bench/real_project.py`, measured from a separate process
(so the benchmark's own CPU never counts): a y-websocket round trip in another room, `/healthz`,
and keystroke echo in another session's terminal, each every 20 ms.

    python -m bench.real_project_probes WS_URL TERM_SESSION

prints one JSON line `[unix time, probe, ms]` per sample ("ready" first).
"""

from __future__ import annotations

import json
import sys
import time
import uuid

import anyio
import httpx
from pycrdt import Doc, Map, Provider
from websockets.asyncio.client import connect

from tests.pyclient import WebsocketChannel

PROBE_GAP = 0.02
NAMES = ("y-websocket round trip", "/healthz", "terminal echo")


class Probes:
    """Other people's experience, from a separate process (so this one's CPU never counts):
    each probe's latencies as (wall time, probe, ms) lines on its stdout."""

    def __init__(self, ws_url: str, term_session: str) -> None:
        self.ws_url = ws_url
        self.http = ws_url.replace("ws://", "http://").removesuffix("/yjs")
        self.term_url = ws_url.removesuffix("/yjs") + f"/term/{term_session}/main"
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
        async with yclient(self.ws_url, room) as (a, pa), yclient(self.ws_url, room) as (b, pb):
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
    probes = Probes(ws_url, term_session)
    print(json.dumps([time.time(), "ready", 0.0]), flush=True)
    anyio.run(probes.run)


class yclient:  # used like a function
    def __init__(self, ws_url: str, room: str) -> None:
        self.url = f"{ws_url}/{room}"
        self.doc: Doc = Doc()

    async def __aenter__(self) -> tuple[Doc, Provider]:
        self._ws_cm = connect(self.url, max_size=None)
        ws = await self._ws_cm.__aenter__()
        self._prov_cm = Provider(self.doc, WebsocketChannel(ws, self.url))
        provider = await self._prov_cm.__aenter__()
        return self.doc, provider

    async def __aexit__(self, *exc: object) -> None:
        await self._prov_cm.__aexit__(None, None, None)
        await self._ws_cm.__aexit__(None, None, None)


if __name__ == "__main__":
    probe_main(sys.argv[1], sys.argv[2])
