"""Replication between rooms of two node-like `RoomManager`s on one in-process hub, and the
shared store's merging compaction: the multi-node logic without processes, fast and exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from pycrdt import Doc, Text
from sqlalchemy import func, select
from sqlmodel import Session

from backend.bus.local import LocalBus, LocalHub
from backend.rooms.manager import RoomManager
from backend.settings import Settings
from backend.store.database import create_tables, make_engine
from backend.store.models import DocumentUpdate
from backend.store.sql import SqlDocumentStore
from tests.support import eventually as until

pytestmark = pytest.mark.anyio


def update_inserting(text: str) -> bytes:
    doc: Doc = Doc()
    doc.get("t", type=Text).insert(0, text)
    return doc.get_update()


@asynccontextmanager
async def two_managers(tmp_path: Path) -> AsyncIterator[tuple[RoomManager, RoomManager, SqlDocumentStore]]:
    settings = Settings(data=tmp_path, group_commit_ms=5, room_idle_unload_seconds=3600)
    engine = make_engine(settings.resolved_database_url())
    create_tables(engine)
    store = SqlDocumentStore(engine, shared=True)
    hub = LocalHub()
    async with anyio.create_task_group() as tg, LocalBus(hub) as bus_a, LocalBus(hub) as bus_b:
        a = RoomManager(settings, store, tg, bus=bus_a)
        b = RoomManager(settings, store, tg, bus=bus_b)
        try:
            yield a, b, store
        finally:
            await a.close()
            await b.close()
            tg.cancel_scope.cancel()
    engine.dispose()


def text_of(room) -> str:  # type: ignore[no-untyped-def]
    return str(room.doc.get("t", type=Text))


def log_rows(store: SqlDocumentStore, room: str) -> int:
    with Session(store.engine) as s:
        return int(s.execute(select(func.count()).where(DocumentUpdate.room == room)).scalar_one())


async def test_updates_cross_and_are_stored_once(tmp_path: Path) -> None:
    async with two_managers(tmp_path) as (a, b, store):
        room_a = await a.acquire("r")
        room_b = await b.acquire("r")
        assert room_a.link is not None and room_b.link is not None
        for i in range(20):
            room_a.apply(update_inserting(f"a{i} "))
            await anyio.sleep(0)
        await until(lambda: text_of(room_b) == text_of(room_a))
        await room_a.writer.flush()  # type: ignore[union-attr]
        await room_b.writer.flush()  # type: ignore[union-attr]
        # Only node A, where they were first applied, logged them (merged per loop turn or not).
        rows = log_rows(store, "r")
        assert 1 <= rows <= 20
        assert room_b.writer is not None and room_b.writer.pending == 0
        assert room_b.link.remote_updates >= 1 and room_a.link.remote_updates == 0  # no echo


async def test_a_room_loaded_later_catches_up_from_history_and_peers(tmp_path: Path) -> None:
    async with two_managers(tmp_path) as (a, b, _store):
        room_a = await a.acquire("late")
        room_a.apply(update_inserting("before "))
        await anyio.sleep(0)
        room_b = await b.acquire("late")  # loads while A's update may not be persisted yet
        await until(lambda: text_of(room_b) == text_of(room_a) == "before ")


async def test_lost_peer_drops_presence_and_snapshots(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path, group_commit_ms=5)
    engine = make_engine(settings.resolved_database_url())
    create_tables(engine)
    store = SqlDocumentStore(engine, shared=True)
    hub = LocalHub()
    async with anyio.create_task_group() as tg, LocalBus(hub) as bus_b:
        b = RoomManager(settings, store, tg, bus=bus_b)
        room_b = await b.acquire("p")
        async with LocalBus(hub) as bus_a:
            a = RoomManager(settings, store, tg, bus=bus_a)
            room_a = await a.acquire("p")
            # Node A's client presence, as node A relays it.
            from backend.rooms.awareness import encode_awareness

            room_a.link.publish_awareness(encode_awareness([(4242, 1, '{"user":{"name":"x"}}')]))  # type: ignore[union-attr]
            await until(lambda: 4242 in room_b.presence_states())
            compactions = room_b.writer.compactions  # type: ignore[union-attr]
            a._closed = True  # node A "dies": no flush, no goodbye beyond the bus leaving
        await until(lambda: 4242 not in room_b.presence_states())
        await until(lambda: room_b.writer.compactions > compactions)  # type: ignore[union-attr]
        await b.close()
        tg.cancel_scope.cancel()
    engine.dispose()


def test_merging_compaction_never_drops_rows_the_doc_lacks(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_tables(engine)
    store = SqlDocumentStore(engine, shared=True)
    store.append("m", [update_inserting("from-other-node ")])
    mine: Doc = Doc()
    mine.get("t", type=Text).insert(0, "mine ")
    store.compact("m", mine.get_update(), upto_seq=0)
    assert log_rows(store, "m") == 0
    stored = store.load("m")
    doc: Doc = Doc()
    doc.apply_update(stored.snapshot)  # type: ignore[arg-type]
    assert sorted(str(doc.get("t", type=Text)).split()) == ["from-other-node", "mine"]
    engine.dispose()


async def test_presence_lost_while_the_bus_was_down_is_repaired(tmp_path: Path) -> None:
    from backend.rooms.awareness import encode_awareness
    from backend.rooms.protocol import parse_awareness_update

    async with two_managers(tmp_path) as (a, b, _store):
        room_a = await a.acquire("aw")
        owner = object()  # a local connection of node A
        state = '{"user":{"name":"x"}}'
        changed = room_a._awareness.apply(parse_awareness_update(encode_awareness([(77, 1, state)])), owner)
        assert changed is not None and room_a.link is not None
        room_a.link.publish_awareness(changed)
        room_b = await b.acquire("aw")  # joins later: gets A's presence in answer to its sync
        await until(lambda: 77 in room_b.presence_states())
        # The client leaves while the bus is down: the removal never reaches node B...
        room_a._awareness.remove_owner(owner)
        # ...until A reconnects and publishes the full list of its clients' presence.
        assert isinstance(a.bus, LocalBus)
        a.bus.simulate_reconnect()
        await until(lambda: 77 not in room_b.presence_states())
