"""Room lifecycle: join storms never strand a client; unloading awaits pending writes."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import anyio
import pytest
from pycrdt import Doc, Text

from backend.rooms.manager import RoomManager
from backend.settings import Settings
from backend.store.database import create_tables, make_engine
from backend.store.sql import SqlDocumentStore
from backend.store.types import StoredDocument
from tests.pyclient import pycrdt_client
from tests.support import TandemServer

pytestmark = pytest.mark.anyio


async def test_join_storm_strands_nobody(server: TandemServer) -> None:
    """20 clients join a new room at once, 10 times (pycrdt-websocket 0.16.5 strands most)."""
    for _ in range(10):
        room = f"storm-{uuid.uuid4().hex[:8]}"
        synced = 0

        async def join(room: str = room) -> None:
            nonlocal synced
            async with pycrdt_client(server.ws_url, room) as (_doc, provider):
                await provider.synced.wait()
                synced += 1

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(join)
        assert synced == 20


class SlowStore(SqlDocumentStore):
    """The real SQL store, with appends held until the test releases them."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.release = threading.Event()
        self.appends_started = threading.Event()

    def append(self, room: str, updates: list[bytes]) -> int:
        self.appends_started.set()
        assert self.release.wait(timeout=30)
        return super().append(room, updates)

    def load(self, room: str) -> StoredDocument:
        return super().load(room)


async def test_unload_waits_for_pending_writes(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path, room_idle_unload_seconds=0.05, group_commit_ms=1)
    engine = make_engine(settings.resolved_database_url())
    create_tables(engine)
    store = SlowStore(engine)
    async with anyio.create_task_group() as tg:
        manager = RoomManager(settings, store, tg)
        room = await manager.acquire("pending")
        source = Doc()
        updates: list[bytes] = []
        source.observe(lambda e: updates.append(e.update))
        text = source.get("t", type=Text)
        for word in ["one ", "two ", "three"]:
            text.insert(len(str(text)), word)
        for update in updates:
            room.apply(update)
        # The writer is now blocked inside append; unloading must wait for it, not drop it.
        await anyio.to_thread.run_sync(store.appends_started.wait, 10)
        unload = anyio.Event()

        async def do_unload() -> None:
            await manager.unload(room)
            unload.set()

        tg.start_soon(do_unload)
        await anyio.sleep(0.2)
        assert not unload.is_set()  # still waiting for the held write
        store.release.set()
        with anyio.fail_after(10):
            await unload.wait()
        tg.cancel_scope.cancel()
    reloaded = Doc()
    stored = SqlDocumentStore(engine).load("pending")
    for part in ([stored.snapshot] if stored.snapshot else []) + stored.updates:
        reloaded.apply_update(part)
    assert str(reloaded.get("t", type=Text)) == "one two three"
