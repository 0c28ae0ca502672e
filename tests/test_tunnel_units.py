"""The tunnel's logic between two in-process nodes (a shared LocalHub), with in-memory ASGI
clients: frames both ways, close codes, flow control, a lost message, a lost node. The real
thing across processes and Redis is `test_scaleout_tunnels.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import TaskGroup
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from backend.auth.types import SCOPE_PRINCIPAL, Principal, Role
from backend.bus.leases import LocalLeases
from backend.bus.local import LocalBus, LocalHub
from backend.tunnel.service import TunnelLimits, Tunnels

pytestmark = pytest.mark.anyio

PRINCIPAL = Principal(id="u1", name="Ada", role=Role.EDITOR, session="s")
WINDOW = 64 * 1024


class Endpoints:
    """What the owner runs: records what it saw, and a few behaviours chosen by the path."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.principals: list[Principal] = []
        self.max_in_flight = 0
        self.done = anyio.Event()
        self.tunnels: Tunnels | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.principals.append(scope[SCOPE_PRINCIPAL])
        ws = WebSocket(scope, receive, send)
        try:
            await ws.accept()
            if scope["path"].endswith("/flood"):
                for i in range(512):
                    await ws.send_bytes(i.to_bytes(4, "big") * 1024)  # 4 KiB frames, 2 MiB in all
                    assert self.tunnels is not None
                    ends = list(self.tunnels._owned.values())
                    self.max_in_flight = max([self.max_in_flight, *(e._sent - e._acked for e in ends)])
                await ws.close(4000, "flood done")
                return
            while True:
                message = await ws.receive()
                self.seen.append(message)
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") == "bye":
                    await ws.close(4400, "asked to")
                    return
                if message.get("text") is not None:
                    await ws.send_text(message["text"].upper())
                else:
                    await ws.send_bytes(message["bytes"][::-1])
        finally:
            self.done.set()


class Client:
    """An ASGI WebSocket client in memory: feeds the entry node's `WebSocket`, records its sends."""

    def __init__(self) -> None:
        self.to_app, self._from_client = anyio.create_memory_object_stream[dict[str, Any]](100)
        self.sent: list[dict[str, Any]] = []
        self.changed = anyio.Event()
        self.slow = anyio.Event()  # cleared: the app's sends block (a client that does not read)
        self.slow.set()

    async def receive(self) -> dict[str, Any]:
        return await self._from_client.receive()

    async def send(self, message: dict[str, Any]) -> None:
        await self.slow.wait()
        self.sent.append(message)
        self.changed.set()
        self.changed = anyio.Event()

    async def until(self, predicate: Any, timeout: float = 5) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while True:
                for m in self.sent:
                    if predicate(m):
                        return m
                await self.changed.wait()

    async def open(
        self, tg: TaskGroup, entry: Tunnels, path: str = "/term/s/main", owner: str = "owner"
    ) -> None:
        """Connect through `entry` to `owner`, as a client reaching the entry node would."""
        ws = WebSocket(scope(path), self.receive, self.send)
        tg.start_soon(entry.forward, ws, owner, "term", "s", PRINCIPAL)
        await self.to_app.send({"type": "websocket.connect"})  # what the server gets first

    async def accepted(self, tg: TaskGroup, entry: Tunnels, path: str = "/term/s/main") -> None:
        await self.open(tg, entry, path)
        await self.until(lambda m: m["type"] == "websocket.accept")

    def frames(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["type"] == "websocket.send"]


@asynccontextmanager
async def two_nodes(endpoints: Endpoints) -> AsyncIterator[tuple[Tunnels, Tunnels, LocalBus]]:
    hub = LocalHub()
    limits = TunnelLimits(window_bytes=WINDOW, open_timeout_seconds=2)
    async with AsyncExitStack() as stack:
        entry_bus = await stack.enter_async_context(LocalBus(hub, "entry"))
        owner_bus = await stack.enter_async_context(LocalBus(hub, "owner"))
        entry = await stack.enter_async_context(
            Tunnels(entry_bus, LocalLeases("entry"), {"term": endpoints}, limits)
        )
        owner = await stack.enter_async_context(
            Tunnels(owner_bus, LocalLeases("owner"), {"term": endpoints}, limits)
        )
        endpoints.tunnels = owner
        yield entry, owner, owner_bus


def scope(path: str = "/term/s/main") -> dict[str, Any]:
    return {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"token=secret&x=1",
        "headers": [(b"cookie", b"tandem_session=secret"), (b"origin", b"http://127.0.0.1")],
        "client": ("127.0.0.1", 5555),
        "subprotocols": [],
    }


async def test_frames_both_ways_and_the_owners_close_code() -> None:
    endpoints = Endpoints()
    client = Client()
    async with two_nodes(endpoints) as (entry, _owner, _), anyio.create_task_group() as tg:
        await client.accepted(tg, entry)
        await client.to_app.send({"type": "websocket.receive", "text": "héllo"})
        await client.to_app.send({"type": "websocket.receive", "bytes": b"\x00\x01\x02"})
        await client.until(lambda m: m.get("text") == "HÉLLO")
        await client.until(lambda m: m.get("bytes") == b"\x02\x01\x00")
        await client.to_app.send({"type": "websocket.receive", "text": "bye"})
        close = await client.until(lambda m: m["type"] == "websocket.close")
        assert (close["code"], close["reason"]) == (4400, "asked to")
    assert endpoints.principals == [PRINCIPAL]


async def test_credentials_stay_on_the_entry_node() -> None:
    endpoints = Endpoints()
    seen_scopes: list[Scope] = []

    async def recording(s: Scope, receive: Receive, send: Send) -> None:
        seen_scopes.append(s)
        await endpoints(s, receive, send)

    client = Client()
    async with two_nodes(endpoints) as (entry, owner, _), anyio.create_task_group() as tg:
        owner.endpoints["term"] = recording
        await client.accepted(tg, entry)
        await client.to_app.send({"type": "websocket.disconnect", "code": 1001})
        with anyio.fail_after(5):
            await endpoints.done.wait()
    (s,) = seen_scopes
    assert b"secret" not in s["query_string"] and s["query_string"] == b"x=1"
    assert all(k != b"cookie" for k, _ in s["headers"])
    assert (b"origin", b"http://127.0.0.1") in s["headers"]
    assert endpoints.seen[-1] == {"type": "websocket.disconnect", "code": 1001}


async def test_a_slow_client_holds_the_owner_to_the_window() -> None:
    endpoints = Endpoints()
    client = Client()
    async with two_nodes(endpoints) as (entry, owner, _), anyio.create_task_group() as tg:
        await client.accepted(tg, entry, "/term/s/flood")
        client.slow = anyio.Event()  # stop reading: the owner must stop at the window

        def in_flight() -> int:
            end = next(iter(owner._owned.values()), None)
            return 0 if end is None else end._sent - end._acked

        with anyio.fail_after(5):
            while in_flight() <= WINDOW:  # the owner's next send waits for an ack
                await anyio.sleep(0.01)
        assert len(client.frames()) <= 1  # the stalled client holds the line; nothing got past it
        client.slow.set()
        close = await client.until(lambda m: m["type"] == "websocket.close", timeout=20)
        assert close["code"] == 4000
    got = b"".join(m["bytes"] for m in client.frames())
    assert got == b"".join(i.to_bytes(4, "big") * 1024 for i in range(512))  # complete, in order
    assert endpoints.max_in_flight <= WINDOW + 4096


async def test_a_lost_message_closes_with_1012() -> None:
    endpoints = Endpoints()
    client = Client()
    async with two_nodes(endpoints) as (entry, _owner, _), anyio.create_task_group() as tg:
        await client.accepted(tg, entry)
        real = entry.bus.publish
        dropped: list[str] = []

        def lossy(channel: str, kind: str, data: bytes) -> None:
            if not dropped:
                dropped.append(kind)  # the first frame after this point vanishes
                return
            real(channel, kind, data)

        entry.bus.publish = lossy  # type: ignore[method-assign]
        await client.to_app.send({"type": "websocket.receive", "text": "lost"})
        await client.to_app.send({"type": "websocket.receive", "text": "next"})
        with anyio.fail_after(5):
            await endpoints.done.wait()  # the owner noticed the gap and ended the endpoint
        close = await client.until(lambda m: m["type"] == "websocket.close")
        assert close["code"] == 1012
        assert all(m.get("text") != "next" for m in endpoints.seen)  # never delivered out of order


async def test_the_owner_node_gone_closes_the_client_with_1012() -> None:
    endpoints = Endpoints()
    client = Client()
    async with two_nodes(endpoints) as (entry, _owner, _), anyio.create_task_group() as tg:
        await client.accepted(tg, entry)
        bus = entry.bus
        assert isinstance(bus, LocalBus)
        bus._notify(bus._peer_lost, "owner")  # what the bus says when the owner stops answering
        close = await client.until(lambda m: m["type"] == "websocket.close")
        assert close["code"] == 1012


async def test_an_owner_that_never_answers_gives_1013() -> None:
    endpoints = Endpoints()
    client = Client()
    async with two_nodes(endpoints) as (entry, _owner, _), anyio.create_task_group() as tg:
        await client.open(tg, entry, owner="nobody")
        close = await client.until(lambda m: m["type"] == "websocket.close", timeout=10)
        assert close["code"] == 1013
