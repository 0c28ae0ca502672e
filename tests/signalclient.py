"""A signaling client for tests and the bench: JSON over `/signal/{session}`, with `expect(type)`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

Message = dict[str, Any]


class SignalClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.backlog: list[Message] = []
        self.id: str = ""
        self.welcome: Message = {}

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, http_url: str, session: str, *, join: bool = True, token: str | None = None, **kwargs: Any
    ) -> AsyncIterator[SignalClient]:
        url = http_url.replace("http://", "ws://") + "/signal/" + quote(session, safe="")
        if token:
            url += f"?token={token}"
        async with connect(url, max_size=None, **kwargs) as ws:
            client = cls(ws)
            if join:
                await client.join()
            yield client

    async def join(self) -> Message:
        await self.send(type="join")
        self.welcome = await self.expect("peers")
        self.id = self.welcome["id"]
        return self.welcome

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def expect(
        self, type_: str, where: Callable[[Message], bool] | None = None, timeout: float = 10
    ) -> Message:
        """The first message of `type_` (matching `where`); others wait in the backlog."""
        for i, m in enumerate(self.backlog):
            if m["type"] == type_ and (where is None or where(m)):
                return self.backlog.pop(i)
        with anyio.fail_after(timeout):
            while True:
                m = json.loads(await self.ws.recv())
                if m["type"] == type_ and (where is None or where(m)):
                    return m
                self.backlog.append(m)

    async def closed(self, timeout: float = 10) -> int | None:
        """Read until the server closes; the close code."""
        with anyio.fail_after(timeout):
            try:
                while True:
                    self.backlog.append(json.loads(await self.ws.recv()))
            except ConnectionClosed:
                pass
        return self.ws.close_code

    async def nothing(self, seconds: float = 0.3) -> list[Message]:
        """Whatever arrives within `seconds` (a bounded window to show that nothing does)."""
        got: list[Message] = []
        with anyio.move_on_after(seconds):
            while True:
                got.append(json.loads(await self.ws.recv()))
        return got
