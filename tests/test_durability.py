"""Nothing acknowledged as durable is lost: kill -9, SIGTERM, and room unload/reload."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import anyio
import pytest
from pycrdt import Doc, Text
from websockets.exceptions import ConnectionClosed

from tests.pyclient import decode_state_vector, pycrdt_client
from tests.support import TandemServer, running_server, wait_until
from tests.support import eventually as poll

pytestmark = pytest.mark.anyio


async def read_text(server: TandemServer, room: str, name: str = "t") -> str:
    async with pycrdt_client(server.ws_url, room) as (doc, provider):
        await provider.synced.wait()
        return str(doc.get(name, type=Text))


def covers(durable: dict[int, int], doc: Doc) -> bool:
    local = decode_state_vector(doc.get_state())
    return all(durable.get(client, 0) >= clock for client, clock in local.items())


async def test_kill_9_keeps_every_durable_edit(tmp_path: Path, database_url: str) -> None:
    room = f"k9-{uuid.uuid4().hex[:8]}"
    server = TandemServer(tmp_path / "data", database_url).start()
    try:
        async with pycrdt_client(server.ws_url, room) as (doc, provider):
            await provider.synced.wait()
            text = doc.get("t", type=Text)
            for i in range(300):
                text.insert(len(str(text)), f"{i % 10}")
            acknowledged = str(text)
            # The server announces what it has persisted: wait until it covers our edits.
            await poll(lambda: covers(provider.channel.durable_state_vector(), doc))
            # Keep writing while the server dies: those edits may or may not survive.
            for i in range(300):
                text.insert(len(str(text)), "x")
                if i == 150:
                    server.kill9()
                await anyio.sleep(0)
    except* Exception:
        pass  # the connection dies with the server
    assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
    restarted = TandemServer(tmp_path / "data", database_url).start()
    try:
        content = await read_text(restarted, room)
        assert content.startswith(acknowledged)
        assert set(content[len(acknowledged) :]) <= {"x"}
    finally:
        restarted.stop()


async def test_sigterm_flushes_everything(tmp_path: Path, database_url: str) -> None:
    room = f"term-{uuid.uuid4().hex[:8]}"
    server = TandemServer(tmp_path / "data", database_url).start()
    closed_with: list[int] = []
    try:
        async with pycrdt_client(server.ws_url, room) as (doc_a, prov_a):
            await prov_a.synced.wait()
            async with pycrdt_client(server.ws_url, room) as (doc_b, prov_b):
                await prov_b.synced.wait()
                text = doc_a.get("t", type=Text)
                for i in range(500):
                    text.insert(len(str(text)), chr(ord("a") + i % 26))
                expected = str(text)
                # The server has applied everything once another client sees it; persisting may lag.
                await poll(lambda: str(doc_b.get("t", type=Text)) == expected)
                # In a thread: the clients keep answering the close handshake meanwhile.
                code = await anyio.to_thread.run_sync(server.stop, signal.SIGTERM)
                # uvicorn re-raises the signal after its graceful shutdown, hence -SIGTERM.
                assert code in (0, -signal.SIGTERM)
                assert "every room flushed" in server.log()
                ws = prov_b.channel._ws  # type: ignore[attr-defined]
                with anyio.fail_after(10):
                    await ws.wait_closed()
                closed_with.append(ws.close_code)
    except* ConnectionClosed:
        pass  # pycrdt's provider echoes updates back and may still be sending when the server goes
    assert closed_with == [1012]  # "service restart": clients reconnect
    restarted = TandemServer(tmp_path / "data", database_url).start()
    try:
        assert await read_text(restarted, room) == expected
    finally:
        restarted.stop()


async def test_room_unloads_when_idle_and_reloads(tmp_path: Path, database_url: str) -> None:
    room = f"idle-{uuid.uuid4().hex[:8]}"
    with running_server(tmp_path / "data", database_url, "--room-idle-unload-seconds", "0.2") as server:
        async with pycrdt_client(server.ws_url, room) as (doc, provider):
            await provider.synced.wait()
            doc.get("t", type=Text).insert(0, "survives unload")
            await poll(lambda: covers(provider.channel.durable_state_vector(), doc))
        wait_until(lambda: f"room '{room}' unloaded" in server.log(), timeout=20, what="unload")
        assert await read_text(server, room) == "survives unload"
        assert server.log().count(f"room '{room}' loaded") == 2
