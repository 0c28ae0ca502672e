"""`Departures`: leaves of detached sockets are recorded in order by one task, not one each."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from backend.routes.departures import Departures
from tests.support import eventually

pytestmark = pytest.mark.anyio


class _Rooms:
    def __init__(self, tg: anyio.abc.TaskGroup) -> None:
        self.tg = tg
        self.started = 0

    def start_soon(self, fn: Any, *args: Any) -> None:
        self.started += 1
        self.tg.start_soon(fn, *args)


class _Auth:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def left(self, principal: str, session: str) -> None:
        await anyio.sleep(0)  # a real one awaits an audit write
        self.calls.append((principal, session))


async def test_a_burst_of_closes_takes_one_task_and_keeps_the_order() -> None:
    auth = _Auth()
    async with anyio.create_task_group() as tg:
        rooms = _Rooms(tg)
        departures = Departures(rooms, auth)  # type: ignore[arg-type]
        for i in range(500):
            departures.add(f"p{i}", "room")
        await eventually(lambda: len(auth.calls) == 500)
        assert rooms.started == 1
        assert auth.calls == [(f"p{i}", "room") for i in range(500)]
        departures.add("late", "room")  # after the drain finished: one new task
        await eventually(lambda: len(auth.calls) == 501)
        assert rooms.started == 2 and len(departures) == 0


async def test_a_closed_task_group_drops_the_leaves_with_a_log() -> None:
    class _Closed:
        def start_soon(self, fn: Any, *args: Any) -> None:
            raise RuntimeError("This task group is not active")

    departures = Departures(_Closed(), _Auth())  # type: ignore[arg-type]
    departures.add("p", "room")
    assert len(departures) == 0
