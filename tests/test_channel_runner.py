"""The WebSocket channel runner (backend/channels/runner.py) against a real uvicorn: pumps end
together, the first `end` wins, an error closes with the code `closecodes.close_for` gives (1011 for
the unexpected, the server unharmed), and the per-channel counters move."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from backend import closecodes
from backend.channels.runner import ChannelRunner
from backend.errors import ChannelCloseError, TerminalLimitError
from backend.ops.counters import ChannelStats
from tests.support import free_port

pytestmark = pytest.mark.anyio

Body = Callable[[WebSocket, ChannelRunner], Awaitable[None]]


@asynccontextmanager
async def served(body: Body, stats: ChannelStats) -> AsyncIterator[str]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        async with ChannelRunner(ws, "test", stats, case="runner") as channel:
            await ws.accept()
            await body(ws, channel)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, ws="websockets-sansio", lifespan="off", log_level="warning"
        )
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"ws://127.0.0.1:{port}/"
        finally:
            server.should_exit = True


async def closed_with(url: str, send: bytes | None = None) -> tuple[int, str, list[str | bytes]]:
    got: list[str | bytes] = []
    async with connect(url) as client:
        if send is not None:
            await client.send(send)
        with anyio.fail_after(5):
            try:
                while True:
                    got.append(await client.recv())
            except ConnectionClosed as exc:
                assert exc.rcvd is not None
                return exc.rcvd.code, exc.rcvd.reason, got
    raise AssertionError("not closed")


async def test_the_out_pump_ending_ends_the_in_pump_with_the_code_it_chose() -> None:
    stats = ChannelStats()

    async def body(ws: WebSocket, channel: ChannelRunner) -> None:
        async def pump_in() -> None:
            await anyio.sleep_forever()

        async def pump_out() -> None:
            await ws.send_text("hello")
            channel.end(closecodes.GOING_AWAY, "terminal closed")
            channel.end(closecodes.INTERNAL_ERROR, "second: ignored")

        await channel.pumps(pump_in, pump_out)

    async with served(body, stats) as url:
        assert await closed_with(url) == (closecodes.GOING_AWAY, "terminal closed", ["hello"])
    assert stats.opened["test"] == 1 and stats.open["test"] == 0
    assert stats.closes[("test", closecodes.GOING_AWAY)] == 1


async def test_an_error_carrying_its_code_closes_with_it() -> None:
    stats = ChannelStats()

    async def body(ws: WebSocket, channel: ChannelRunner) -> None:
        async def pump_in() -> None:
            await ws.receive_bytes()
            raise ChannelCloseError(closecodes.MESSAGE_TOO_BIG, "input frames are at most 1 byte")

        await channel.pumps(pump_in, anyio.sleep_forever)

    async with served(body, stats) as url:
        code, reason, _ = await closed_with(url, send=b"xx")
    assert (code, reason) == (closecodes.MESSAGE_TOO_BIG, "input frames are at most 1 byte")


async def test_known_errors_map_to_their_code_and_the_unexpected_to_1011() -> None:
    stats = ChannelStats()
    errors = iter([TerminalLimitError("the session has 8 terminals"), KeyError("bug"), None])

    async def body(ws: WebSocket, channel: ChannelRunner) -> None:
        error = next(errors)
        if error is not None:
            raise error

    async with served(body, stats) as url:
        assert (await closed_with(url))[:2] == (closecodes.TRY_AGAIN_LATER, "the session has 8 terminals")
        assert (await closed_with(url))[:2] == (closecodes.INTERNAL_ERROR, "internal error")
        # The server lives on: the next connection is served and closed normally.
        assert (await closed_with(url))[:2] == (closecodes.NORMAL, "")
    assert stats.closes[("test", closecodes.INTERNAL_ERROR)] == 1
    assert stats.opened["test"] == 3 and stats.open["test"] == 0


async def test_end_before_the_pumps_start_closes_at_once() -> None:
    stats = ChannelStats()

    async def body(ws: WebSocket, channel: ChannelRunner) -> None:
        channel.end(closecodes.FORBIDDEN, "access revoked")
        await channel.pumps(anyio.sleep_forever, anyio.sleep_forever)

    async with served(body, stats) as url:
        assert (await closed_with(url))[:2] == (closecodes.FORBIDDEN, "access revoked")
