"""An unloaded room leaves nothing behind: after its clients leave and it unloads, no strong
reference to its Doc remains (history, replication, metrics and connections included).
In-process (uvicorn on an unused port, inside the test's event loop) so the Doc can be watched
with a weakref; real pycrdt clients over real WebSockets."""

from __future__ import annotations

import gc
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
import uvicorn
from pycrdt import Doc, Map, Text

from backend.app import create_app
from backend.node import Node
from backend.settings import Settings
from tests.pyclient import pycrdt_client
from tests.support import eventually, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@asynccontextmanager
async def inprocess(data: Path) -> AsyncIterator[tuple[str, Node]]:
    port = free_port()
    settings = Settings(
        no_auth=True,
        data=data,
        port=port,
        sandbox="off",
        room_idle_unload_seconds=0.2,
        history_idle_seconds=0.2,
        history_poll_seconds=0.05,
    )
    asgi = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=port, ws="websockets-sansio", log_level="warning")
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await eventually(lambda: server.started, timeout=30)
        try:
            yield f"ws://127.0.0.1:{port}/yjs", asgi.app.state.node
        finally:
            server.should_exit = True


def server_files(services: Node, name: str) -> int:
    room = services.rooms.rooms.get(name)
    return -1 if room is None else len(room.doc.get("files", type=Map))


def gone(ref: weakref.ref[Doc]) -> bool:
    return ref() is None


async def test_no_reference_to_an_unloaded_rooms_doc_remains(tmp_path: Path) -> None:
    # With the cycle collector off, the Doc must be freed by reference counting alone: a cycle
    # through a room would hold a whole document until a full collection, which may be rare.
    gc.collect()
    gc.disable()
    try:
        await unload_cycles(tmp_path)
    finally:
        gc.enable()


async def unload_cycles(tmp_path: Path) -> None:
    async with inprocess(tmp_path) as (ws_url, services):
        room_name = f"mem-{uuid.uuid4().hex[:8]}"
        refs: list[weakref.ref[Doc]] = []
        history = services.history
        assert history is not None
        stats = history.rooms.stats
        for cycle in range(3):  # the first load creates the content, the others load it back
            async with pycrdt_client(ws_url, room_name) as (doc, provider):
                await provider.synced.wait()
                doc.get("files", type=Map)[f"f{cycle}.py"] = Text("print('hello')\n" * 2000)
                want = cycle + 1
                await eventually(lambda: server_files(services, room_name) == want)  # noqa: B023
                refs.append(weakref.ref(services.rooms.rooms[room_name].doc))
                # A version is taken on idle (the recorder holds the room meanwhile).
                await eventually(lambda: stats.history_versions >= want, timeout=30)  # noqa: B023
            await eventually(lambda: room_name not in services.rooms.rooms, timeout=30)
            await eventually(lambda: gone(refs[-1]), timeout=10, interval=0.1)
        assert all(ref() is None for ref in refs)
