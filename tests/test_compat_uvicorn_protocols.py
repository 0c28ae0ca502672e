"""uvicorn internals behind the connection guard (backend/_compat/uvicorn_protocols.py): the
installed version is in the tested range, every hook the subclasses override still exists and is
called where they expect, and an untested uvicorn refuses to start instead of dropping the limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from backend._compat import uvicorn_protocols
from backend._compat.uvicorn_protocols import (
    HTTP_HOOKS,
    UnsupportedUvicorn,
    check_supported,
    guarded_protocols,
)
from backend.edge.connections import ConnectionGuard


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_the_installed_uvicorn_is_in_the_tested_range_with_every_hook() -> None:
    assert uvicorn_protocols.SUPPORTED
    check_supported(WebSocketsSansIOProtocol)
    for name in HTTP_HOOKS:
        assert callable(getattr(HttpToolsProtocol, name))


def test_an_untested_uvicorn_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn_protocols, "SUPPORTED", False)
    with pytest.raises(UnsupportedUvicorn):
        guarded_protocols(ConnectionGuard(4, 100), WebSocketsSansIOProtocol, 5.0, 8192)


def test_a_hook_that_moved_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(HttpToolsProtocol, "on_headers_complete")
    with pytest.raises(UnsupportedUvicorn, match="on_headers_complete"):
        check_supported(WebSocketsSansIOProtocol)


@pytest.mark.anyio
async def test_the_hooks_run_where_the_subclass_expects() -> None:
    """Through uvicorn's own parser: a connection takes a slot (`client` is set by then), its
    request headers mark it busy, the response marks it idle again, and the close frees it."""
    guard = ConnectionGuard(4, 100)
    http, _ws = guarded_protocols(guard, WebSocketsSansIOProtocol, 5.0, 8192)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = Config(app, http="httptools", lifespan="off")
    config.load()
    proto: Any = http(config=config, server_state=ServerState(), app_state={})
    transport = _Transport()
    proto.connection_made(transport)
    assert guard.count("127.0.0.1") == 1
    assert proto.header_timer is not None  # waiting for a request's headers
    proto.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert proto.header_timer is None  # headers complete: the timer is off
    for _ in range(100):  # the app runs as a task: poll (a bounded number of loop turns)
        if b"204" in transport.written:
            break
        await asyncio.sleep(0)
    assert transport.written.startswith(b"HTTP/1.1 204")
    assert proto.slot is not None and proto.slot.idle  # keep-alive: idle again
    proto.connection_lost(None)
    assert guard.count("127.0.0.1") == 0
