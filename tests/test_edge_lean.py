"""Detached `/yjs` sockets (backend.edge.leanws): an idle client holds no task and no uvicorn
protocol object, and everything a client does still works on them. In-process (uvicorn with the
edge's own protocols on an unused port, inside the test's event loop) so the server's
connection and task sets can be counted; real pycrdt clients and raw sockets."""

from __future__ import annotations

import asyncio
import gc
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn
from pycrdt import Map, Text
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from backend._compat.uvicorn_lean import UVICORN_VERSION
from backend.app import create_app
from backend.edge.leanws import OP_BINARY, OP_TEXT, Keepalive, LeanSocket
from backend.edge.server import uvicorn_options
from backend.node import Node
from backend.settings import Settings
from tests.pyclient import pycrdt_client, room_url
from tests.support import eventually, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@asynccontextmanager
async def inprocess(data: Path, **overrides: Any) -> AsyncIterator[tuple[str, Node, uvicorn.Server]]:
    port = free_port()
    settings = Settings(no_auth=True, data=data, port=port, sandbox="off", host="127.0.0.1", **overrides)
    asgi = create_app(settings)
    _guard, options = uvicorn_options(settings)
    server = uvicorn.Server(uvicorn.Config(asgi, **options, log_level="warning", log_config=None))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await eventually(lambda: server.started, timeout=30)
        try:
            yield f"ws://127.0.0.1:{port}/yjs", asgi.app.state.node, server
        finally:
            server.should_exit = True


def lean_sockets(server: uvicorn.Server) -> int:
    return sum(isinstance(c, LeanSocket) for c in server.server_state.connections)


def test_the_pinned_uvicorn_is_the_one_detach_was_written_for() -> None:
    assert uvicorn.__version__ == UVICORN_VERSION


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "asgi"])
async def test_idle_clients_hold_no_task_and_edits_still_flow(tmp_path: Path, lean: bool) -> None:
    clients = 12
    async with (
        inprocess(tmp_path, yjs_lean_sockets=lean) as (url, services, server),
        AsyncExitStack() as stack,
    ):
        name = f"lean-{uuid.uuid4().hex[:8]}"
        docs = []
        for _ in range(clients):
            doc, provider = await stack.enter_async_context(pycrdt_client(url, name))
            await provider.synced.wait()
            docs.append(doc)
        room = services.rooms.rooms[name]
        await eventually(lambda: len(room.clients) == clients)
        if lean:
            # No ASGI task and no uvicorn WebSocket protocol per idle client.
            await eventually(lambda: len(server.server_state.tasks) == 0, what="the endpoint tasks ended")
            assert lean_sockets(server) == clients
            # ...and nothing keeps one alive (a bound method of it in a socket's callbacks would).
            gc.collect()
            assert not [o for o in gc.get_objects() if isinstance(o, WebSocketsSansIOProtocol)]
        else:
            assert len(server.server_state.tasks) == clients and lean_sockets(server) == 0
        docs[0].get("files", type=Map)["a.py"] = Text("print('hi')\n")
        for doc in docs[1:]:
            files = doc.get("files", type=Map)
            await eventually(lambda f=files: "a.py" in f and str(f["a.py"]) == "print('hi')\n")
        await stack.aclose()
        await eventually(lambda: not room.clients, what="every client left the room")
        await eventually(lambda: lean_sockets(server) == 0 and not server.server_state.tasks)
        assert services.rooms.stats.closes.get(1000, 0) + services.rooms.stats.closes.get(1005, 0) >= clients


async def test_a_text_frame_closes_1003_and_a_big_frame_1009_on_a_lean_socket(tmp_path: Path) -> None:
    async with inprocess(tmp_path, max_frame_bytes=64 * 1024) as (url, _services, server):
        async with connect(room_url(url, "txt"), max_size=None) as ws:
            await ws.recv()  # sync step 1 from the server: joined
            await eventually(lambda: lean_sockets(server) == 1)
            await ws.send("hello")
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
        async with connect(room_url(url, "big"), max_size=None) as ws:
            await ws.recv()
            await ws.send(b"\0" * (64 * 1024 + 1))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        await eventually(lambda: lean_sockets(server) == 0)


async def test_a_client_that_sends_before_the_answer_is_still_served(tmp_path: Path) -> None:
    """uvicorn's HTTP protocol hands the WebSocket protocol the request alone (bytes after it in
    the same read are dropped), so a frame sent too early is lost whatever the path; the socket
    is then detached and serves the next frames."""
    async with inprocess(tmp_path) as (url, services, server):
        port = int(url.split(":")[2].split("/")[0])
        sync_step1 = Frame(Opcode.BINARY, b"\x00\x00\x01\x00").serialize(mask=True)  # empty SV
        request = (
            b"GET /yjs/early HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request + sync_step1)  # one write: the frame is early
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        rooms = services.rooms.rooms
        await eventually(lambda: "early" in rooms and len(rooms["early"].clients) == 1)
        await eventually(lambda: lean_sockets(server) == 1)
        writer.write(sync_step1)
        seen = b""
        with anyio.fail_after(10):
            while b"\x00\x01" not in seen:  # a SYNC_STEP2 answers it
                seen += await reader.read(4096)
        writer.close()


# -- the frame parser and keepalive, on a recording transport --------------------------------


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.out.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _masked(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, payload, fin=fin).serialize(mask=True)


def _lean(max_size: int = 1 << 20) -> tuple[LeanSocket, _Transport, list[tuple[int, bytes]], list[int]]:
    transport = _Transport()
    sock = LeanSocket(transport, max_size, None, on_lost=lambda _s: None)
    got: list[tuple[int, bytes]] = []
    codes: list[int] = []
    sock.attach(_Recorder(got, codes))
    return sock, transport, got, codes


class _Recorder:
    """The endpoint's side of a detached socket, recording what it is handed."""

    def __init__(self, got: list[tuple[int, bytes]], codes: list[int]) -> None:
        self.got, self.codes = got, codes

    def on_lean_message(self, opcode: int, payload: bytes) -> None:
        self.got.append((opcode, payload))

    def on_lean_close(self, code: int) -> None:
        self.codes.append(code)


async def test_frames_split_anywhere_and_fragmented_messages_arrive_whole() -> None:
    sock, transport, got, _ = _lean()
    big = os.urandom(70_000)  # a 64-bit length
    stream = (
        _masked(Opcode.BINARY, b"one")
        + _masked(Opcode.BINARY, b"fr", fin=False)
        + _masked(Opcode.PING, b"p")  # a control frame between fragments
        + _masked(Opcode.CONT, b"ag", fin=True)
        + _masked(Opcode.BINARY, big)
        + _masked(Opcode.TEXT, "é".encode())
        + _masked(Opcode.BINARY, b"x" * 300)  # a 16-bit length
    )
    for i in range(0, len(stream), 7):  # 7-byte chunks: every header split somewhere
        sock.data_received(stream[i : i + 7])
    assert got == [
        (OP_BINARY, b"one"),
        (OP_BINARY, b"frag"),
        (OP_BINARY, big),
        (OP_TEXT, "é".encode()),
        (OP_BINARY, b"x" * 300),
    ]
    assert transport.out == [Frame(Opcode.PONG, b"p").serialize(mask=False)]
    assert not transport.closed


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (Frame(Opcode.BINARY, b"x").serialize(mask=False), 1002),  # unmasked
        (_masked(Opcode.CONT, b"x"), 1002),  # a continuation of nothing
        (_masked(Opcode.BINARY, b"a", fin=False) + _masked(Opcode.BINARY, b"b"), 1002),
        (_masked(Opcode.BINARY, b"y" * 101), 1009),  # over max_size
        (_masked(Opcode.BINARY, b"y" * 60, fin=False) + _masked(Opcode.CONT, b"y" * 60), 1009),
    ],
    ids=["unmasked", "stray-continuation", "interleaved", "too-big", "too-big-fragmented"],
)
async def test_a_bad_frame_closes_with_its_code(frames: bytes, code: int) -> None:
    sock, transport, got, _ = _lean(max_size=100)
    sock.data_received(frames)
    assert transport.closed and sock.peer_code == code
    close = transport.out[-1]
    assert close[0] == 0x88 and close[2:4] == code.to_bytes(2, "big")  # a close frame with the code
    sock.data_received(_masked(Opcode.BINARY, b"after"))
    assert (OP_BINARY, b"after") not in got


async def test_the_peers_close_is_answered_and_reported() -> None:
    sock, transport, _, codes = _lean()
    sock.data_received(_masked(Opcode.CLOSE, (4000).to_bytes(2, "big") + b"bye"))
    assert transport.closed and transport.out == [
        Frame(Opcode.CLOSE, (4000).to_bytes(2, "big")).serialize(mask=False)
    ]
    sock.connection_lost(None)
    assert codes == [4000]


async def test_our_close_then_the_peers_answer() -> None:
    sock, transport, got, codes = _lean()
    await sock.send({"type": "websocket.close", "code": 4401, "reason": "bad credentials"})
    assert sock.close_sent and not transport.closed
    sock.data_received(_masked(Opcode.BINARY, b"late"))  # dropped: we are closing
    sock.data_received(_masked(Opcode.CLOSE, (4401).to_bytes(2, "big")))
    assert transport.closed and got == [] and len(transport.out) == 1
    sock.connection_lost(None)
    assert codes == [4401]


async def test_keepalive_pings_a_silent_socket_and_aborts_it_when_it_stays_silent() -> None:
    keepalive = Keepalive(3600)
    talking, quiet = _Transport(), _Transport()
    a = LeanSocket(talking, 1000, keepalive, on_lost=lambda _s: None)
    b = LeanSocket(quiet, 1000, keepalive, on_lost=lambda _s: None)
    keepalive._sweep()  # both were just opened (seen)
    assert talking.out == quiet.out == []
    a.data_received(_masked(Opcode.PONG, b""))
    keepalive._sweep()
    assert quiet.out == [b"\x89\x00"] and talking.out == []
    a.data_received(_masked(Opcode.BINARY, b"x"))
    keepalive._sweep()
    assert quiet.aborted and not talking.aborted
    b.connection_lost(None)
    assert b not in keepalive._sockets
    if keepalive._timer is not None:
        keepalive._timer.cancel()
