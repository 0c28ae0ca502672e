"""One session lifecycle (backend.lifecycle): listeners run in their documented order, for access
changes and for deletion; a failing listener is logged and the next one still runs. The node's
listeners are the real parts, in the order backend/lifecycle.py documents."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from backend.access.live import RoomAccess
from backend.lifecycle import OnDeleted, SessionLifecycle
from backend.node import Node
from backend.screenshare import ScreenShareService
from backend.settings import Settings
from backend.terminals.live import TerminalAccess

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self, name: str, calls: list[str], fail: bool = False) -> None:
        self.name, self.calls, self.fail = name, calls, fail

    async def access_changed(self, session: str) -> None:
        self.calls.append(f"{self.name}:access:{session}")
        if self.fail:
            raise RuntimeError(f"{self.name} broke")

    async def session_deleted(self, session: str) -> None:
        self.calls.append(f"{self.name}:deleted:{session}")
        if self.fail:
            raise RuntimeError(f"{self.name} broke")


async def test_listeners_run_in_order_and_a_failure_is_logged_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    forgotten: list[str] = []

    async def forget(session: str) -> None:
        forgotten.append(session)

    lifecycle = SessionLifecycle(
        [
            Recorder("rooms", calls),
            Recorder("sync", calls, fail=True),
            Recorder("terminals", calls),
            OnDeleted(forget),
        ]
    )
    with caplog.at_level(logging.ERROR, logger="tandem.lifecycle"):
        await lifecycle.session_deleted("s1")
        await lifecycle.access_changed("s2")
    assert calls == [
        "rooms:deleted:s1",
        "sync:deleted:s1",
        "terminals:deleted:s1",
        "rooms:access:s2",
        "sync:access:s2",
        "terminals:access:s2",
    ]
    assert forgotten == ["s1"]  # a deletion-only listener hears deletions, not access changes
    failures = [r for r in caplog.records if r.exc_info is not None]
    assert [r.getMessage() for r in failures] == [
        "session s1: a session_deleted listener failed",
        "session s2: an access listener failed",
    ]


async def test_the_node_wires_its_parts_in_the_documented_order(
    tmp_path: Path,
) -> None:
    settings = Settings(data=tmp_path, sandbox="off", port=0)
    async with Node.open(settings) as node:
        listeners = node.lifecycle.listeners
        assert [type(x) for x in listeners] == [
            RoomAccess,  # the room closes and its document goes
            OnDeleted,  # the workspace sync lets go of the workspace
            TerminalAccess,  # then the container and the quota image go
            ScreenShareService,
            OnDeleted,  # version history
            OnDeleted,  # the bus channel
        ]
        assert listeners[2] is node.sockets.terminal_access
        assert listeners[3] is node.screenshare
        # Deleting an unknown session (nothing loaded, nothing to remove) runs every listener.
        await node.lifecycle.session_deleted("never-there")
