"""Starlette's private `WebSocket._send` (backend/_compat/starlette.py): still the server's ASGI
send in the installed version, and the public `WebSocket.send` stands in when it is gone."""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocket

from backend._compat import starlette as starlette_compat
from backend._compat.starlette import asgi_send


async def receive() -> Any:
    return {"type": "websocket.connect"}


async def send(message: Any) -> None:
    pass


def socket() -> WebSocket:
    return WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)


def test_the_installed_starlette_is_in_the_tested_range() -> None:
    assert starlette_compat.SUPPORTED


def test_the_asgi_send_is_the_one_the_server_passed() -> None:
    assert asgi_send(socket()) is send


def test_without_the_private_attribute_the_public_send_stands_in() -> None:
    ws = socket()
    del ws._send
    assert asgi_send(ws) == ws.send
