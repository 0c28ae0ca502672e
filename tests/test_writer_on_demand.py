"""The room writer runs only while it has work (backend/store/writer.py `spawn`): an idle room
holds no task, and an update queued after the writer went idle is persisted like the first."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from backend.store.database import create_tables, make_engine
from backend.store.sql import SqlDocumentStore
from backend.store.writer import RoomWriter
from tests.support import eventually

pytestmark = pytest.mark.anyio


async def test_the_writer_runs_while_it_has_work_and_persists_after_idling(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_tables(engine)
    store = SqlDocumentStore(engine)
    spawned: list[int] = []
    durable: list[object] = []
    async with anyio.create_task_group() as tg:

        def spawn() -> None:
            spawned.append(1)
            tg.start_soon(writer.run)

        writer = RoomWriter(
            "room",
            store,
            state_vector=lambda: len(spawned),
            snapshot=lambda: b"",
            on_durable=durable.append,
            last_seq=0,
            group_commit_seconds=0.01,
            compact_every=1000,
            max_pending=1000,
            retry_max_seconds=1.0,
            spawn=spawn,
        )
        assert spawned == []  # nothing queued: no task
        writer.enqueue(b"\x00\x00")
        writer.enqueue(b"\x00\x01")
        assert spawned == [1]  # one task for both
        await eventually(lambda: len(store.load("room").updates) == 2 and not writer._running)
        assert writer.pending == 0 and writer.pending_since is None
        writer.enqueue(b"\x00\x02")  # after the writer went idle: a new run
        assert spawned == [1, 1]
        await eventually(lambda: len(store.load("room").updates) == 3 and not writer._running)
        assert store.load("room").updates == [b"\x00\x00", b"\x00\x01", b"\x00\x02"]
        assert len(durable) == 2  # one durable point per persisted batch
        await writer.close()
    engine.dispose()
