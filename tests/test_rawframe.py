"""The raw-frame fast path (backend/rooms/rawframe.py, internals in backend/_compat/uvicorn.py)
against a real uvicorn: the path is really taken, and any failure inside it falls back to the
ASGI send instead of breaking the fan-out. If an uvicorn upgrade moves what it relies on, this fails
first."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import anyio
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect

from backend._compat import in_tested_range
from backend._compat import uvicorn as uvicorn_compat
from backend._compat.starlette import asgi_send
from backend.rooms.connection import SEND_COUNTS, ClientConnection, QueueLimits
from backend.rooms.rawframe import RawFrameSink, encode_binary_frame
from tests.support import free_port

pytestmark = pytest.mark.anyio

Handler = Callable[[WebSocket], Awaitable[None]]


@asynccontextmanager
async def served(handler: Handler) -> AsyncIterator[str]:
    """A real uvicorn (websockets-sansio, as `tandem serve`) running `handler` for each socket,
    outside Starlette's middleware as /yjs is (so `WebSocket._send` is uvicorn's own send)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await handler(ws)
        await ws.receive()  # until the client closes

    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"ws://127.0.0.1:{port}/ws"
        finally:
            server.should_exit = True


class MovedInternals:
    """uvicorn's protocol after an upgrade that renamed what the fast path reads."""

    def __init__(self, proto: Any, missing: str) -> None:
        self._proto, self._missing = proto, missing

    def __getattr__(self, name: str) -> Any:
        if name == self._missing:
            raise AttributeError(name)
        return getattr(self._proto, name)


def test_the_installed_uvicorn_is_the_tested_one() -> None:
    assert uvicorn_compat.SUPPORTED, f"uvicorn {version('uvicorn')} is outside {uvicorn_compat.TESTED}"
    assert in_tested_range("uvicorn", "0.54", "0.55")
    assert not in_tested_range("uvicorn", "0.55", "0.56")
    assert not in_tested_range("no-such-distribution", "0", "99")


async def test_the_fast_path_is_taken_with_uvicorn() -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: WebSocket) -> None:
        sink = RawFrameSink.for_send(asgi_send(ws))
        seen["sink"] = sink
        seen["written"] = sink is not None and sink.try_write(encode_binary_frame(b"raw bytes"))

    async with served(handler) as url, connect(url) as client:
        with anyio.fail_after(5):
            assert await client.recv() == b"raw bytes"
    assert seen["sink"] is not None, "uvicorn's protocol is no longer recognised: the fast path is off"
    assert seen["written"] is True


async def test_a_send_that_is_not_uvicorns_gets_no_sink() -> None:
    async def send(message: Any) -> None:
        pass

    assert RawFrameSink.for_send(send) is None


@pytest.mark.parametrize("missing", ["conn", "writable", "transport", "close_sent"])
async def test_an_internal_that_moved_falls_back_to_the_asgi_send(
    missing: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: WebSocket) -> None:
        send = asgi_send(ws)
        sink = RawFrameSink.for_send(send)
        assert sink is not None
        sink._proto = MovedInternals(sink._proto, missing)
        seen["first"] = sink.try_write(encode_binary_frame(b"lost?"))
        seen["again"] = sink.try_write(encode_binary_frame(b"lost?"))
        await send({"type": "websocket.send", "bytes": b"through asgi"})

    with caplog.at_level(logging.WARNING, logger="tandem.rooms"):
        async with served(handler) as url, connect(url) as client:
            with anyio.fail_after(5):
                assert await client.recv() == b"through asgi"
    assert seen == {"first": False, "again": False}
    assert len([r for r in caplog.records if "fast path off" in r.getMessage()]) == 1


async def test_the_fanout_carries_on_when_the_fast_path_breaks() -> None:
    """A client connection whose sink raises still delivers every message, in order."""
    seen: dict[str, Any] = {}

    async def handler(ws: WebSocket) -> None:
        conn = ClientConnection(ws, QueueLimits(max_messages=100, max_bytes=1 << 20))
        assert conn._sink is not None
        conn._sink._proto = MovedInternals(conn._sink._proto, "transport")
        raw_before = SEND_COUNTS.raw
        for i in range(3):
            conn.send(b"m%d" % i)
        seen["raw"] = SEND_COUNTS.raw - raw_before

    async with served(handler) as url, connect(url) as client:
        with anyio.fail_after(5):
            got = [await client.recv() for _ in range(3)]
    assert got == [b"m0", b"m1", b"m2"]
    assert seen["raw"] == 0
