"""Bad input closes only the offending connection, with a named code; the room lives on."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import anyio
import anyio.lowlevel
import pytest
from pycrdt import (
    Doc,
    Text,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    write_var_uint,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from backend import closecodes
from tests.pyclient import pycrdt_client, room_url
from tests.support import TandemServer

pytestmark = pytest.mark.anyio

MAX_FRAME = 1024 * 1024


@pytest.fixture(scope="module")
def limited(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    env = {
        "TANDEM_MAX_FRAME_BYTES": str(MAX_FRAME),
        "TANDEM_CLIENT_QUEUE_MAX_MESSAGES": "64",
        "TANDEM_CLIENT_QUEUE_MAX_BYTES": str(2 * 1024 * 1024),
    }
    server = TandemServer(tmp_path_factory.mktemp("bad"), database_url, env=env).start()
    yield server
    server.stop()


async def closed_code(url: str, frame: bytes | str) -> tuple[int | None, str]:
    async with connect(url, max_size=None) as ws:
        await ws.send(create_sync_message(Doc()))
        await ws.send(frame)
        with anyio.fail_after(10):
            try:
                while True:
                    await ws.recv()
            except ConnectionClosed:
                pass
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


async def assert_room_works(server: TandemServer, room: str) -> None:
    """Another client still edits the room, and a new one still joins and syncs."""
    async with pycrdt_client(server.ws_url, room) as (doc_a, prov_a):
        await prov_a.synced.wait()
        marker = uuid.uuid4().hex
        doc_a.get("t", type=Text).insert(0, marker)
        async with pycrdt_client(server.ws_url, room) as (doc_b, prov_b):
            with anyio.fail_after(10):
                while marker not in str(doc_b.get("t", type=Text)):
                    await anyio.sleep(0.01)


def valid_update(text: str = "x") -> bytes:
    doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda e: updates.append(e.update))
    doc.get("t", type=Text).insert(0, text)
    return updates[0]


BAD_FRAMES = {
    "garbage": (b"\xff\xfe\xfd\xfc garbage", closecodes.BAD_REQUEST),
    "truncated": (b"\x00\x02\x10abc", closecodes.BAD_REQUEST),
    "truncated-varint": (b"\x00\x02\xff\xff", closecodes.BAD_REQUEST),
    "unknown-type": (b"\x07\x00", closecodes.BAD_REQUEST),
    "unknown-sync-type": (b"\x00\x09\x01\x00", closecodes.BAD_REQUEST),
    "huge-length": (b"\x00\x02" + write_var_uint(2**60) + b"abc", closecodes.BAD_REQUEST),
    "update-fails": (b"\x00\x02" + write_var_uint(20) + b"\x05" * 20, closecodes.BAD_REQUEST),
    "bad-state-vector": (b"\x00\x00" + write_var_uint(3) + b"\xff\xff\xff", closecodes.BAD_REQUEST),
    "awareness-not-json": (b"\x01" + write_var_uint(6) + b"\x01\x05\x01\x02{x", closecodes.BAD_REQUEST),
    "awareness-truncated": (b"\x01\x03\x01\x05\x01", closecodes.BAD_REQUEST),
    "text-frame": ("hello", closecodes.UNSUPPORTED_DATA),
}


@pytest.mark.parametrize("kind", list(BAD_FRAMES))
async def test_bad_frame_closes_only_that_connection(limited: TandemServer, kind: str) -> None:
    room = f"bad-{kind}-{uuid.uuid4().hex[:6]}"
    frame, expected = BAD_FRAMES[kind]
    async with pycrdt_client(limited.ws_url, room) as (doc, provider):
        await provider.synced.wait()
        doc.get("t", type=Text).insert(0, "before ")
        code, reason = await closed_code(room_url(limited.ws_url, room), frame)
        assert code == expected, reason
        assert reason
        await assert_room_works(limited, room)
        assert str(doc.get("t", type=Text)).endswith("before ")
    assert "protocol error" in limited.log() or kind == "text-frame"


async def test_frame_over_the_limit_is_refused_with_1009(limited: TandemServer) -> None:
    room = f"big-{uuid.uuid4().hex[:6]}"
    big = create_update_message(valid_update("y" * (MAX_FRAME + 10)))
    code, _ = await closed_code(room_url(limited.ws_url, room), big)
    assert code == closecodes.MESSAGE_TOO_BIG
    await assert_room_works(limited, room)


async def test_slow_reader_is_dropped_and_never_stalls_the_room(limited: TandemServer) -> None:
    room = f"slow-{uuid.uuid4().hex[:6]}"
    chunk = "z" * 60_000
    total = 600
    url = room_url(limited.ws_url, room)
    # The stalled reader: joins, then never reads (websockets stops reading its socket once its
    # own small queue is full, so the server's writes back up).
    async with connect(url, max_size=None, max_queue=1) as stalled:
        await stalled.send(create_sync_message(Doc()))
        # The live reader applies what it receives and never echoes it back.
        async with connect(url, max_size=None) as reader_ws:
            await reader_ws.send(create_sync_message(Doc()))
            reader = Doc()
            reader_text = reader.get("t", type=Text)

            async def read() -> None:
                async for message in reader_ws:
                    assert isinstance(message, bytes)
                    if message[0] == 0 and message[1] in (1, 2):
                        handle_sync_message(message[1:], reader)

            async with pycrdt_client(limited.ws_url, room) as (writer, writer_prov):
                await writer_prov.synced.wait()
                text = writer.get("t", type=Text)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read)
                    # Paced by the live reader: it never falls behind, the stalled one must. Once
                    # the server has dropped the stalled one, a few more edits show the room goes on.
                    after_drop = 10
                    for i in range(total):
                        text.insert(len(text), chunk)
                        with anyio.fail_after(30):
                            while len(reader_text) < (i + 1) * len(chunk):
                                await anyio.sleep(0.005)
                        if dropped(limited, room):
                            after_drop -= 1
                            if not after_drop:
                                break
                    tg.cancel_scope.cancel()
        # Now drain the stalled client: the server must have closed it for overflow.
        with anyio.fail_after(30):
            try:
                while True:
                    await stalled.recv()
            except ConnectionClosed:
                pass
        assert stalled.close_code == closecodes.MESSAGE_TOO_BIG
    assert dropped(limited, room)


def dropped(server: TandemServer, room: str) -> bool:
    return any(
        "slow client dropped" in line and f"room={room!r}" in line for line in server.log().splitlines()
    )


@pytest.mark.parametrize(
    "path",
    ["a/b", "", "x" * 200, "%00nul", "bad%2", "%C3%28"],
)
async def test_bad_room_paths_are_refused(limited: TandemServer, path: str) -> None:
    async with connect(f"{limited.ws_url}/{path}") as ws:
        with anyio.fail_after(10):
            try:
                await ws.recv()
            except ConnectionClosed:
                pass
    assert ws.close_code == closecodes.BAD_REQUEST


async def test_encoded_slash_is_its_own_room(limited: TandemServer) -> None:
    base = f"slash-{uuid.uuid4().hex[:6]}"
    async with pycrdt_client(limited.ws_url, f"{base}/b") as (doc, prov):  # sent as %2F
        await prov.synced.wait()
        doc.get("t", type=Text).insert(0, "in a/b")
        async with pycrdt_client(limited.ws_url, f"{base}/b") as (same, same_prov):
            with anyio.fail_after(10):
                while str(same.get("t", type=Text)) != "in a/b":
                    await anyio.sleep(0.01)
    async with pycrdt_client(limited.ws_url, base) as (other, other_prov):
        await other_prov.synced.wait()
        assert str(other.get("t", type=Text)) == ""


def _mutated_updates(base: list[bytes], seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        update = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            if op < 0.5 and update:
                update[rng.randrange(len(update))] = rng.randrange(256)
            elif op < 0.75:
                update.insert(rng.randrange(len(update) + 1), rng.randrange(256))
            elif update:
                del update[rng.randrange(len(update))]
        out.append(bytes(update))
    return out


def _base_updates() -> list[bytes]:
    doc = Doc(client_id=424242)
    updates: list[bytes] = []
    doc.observe(lambda e: updates.append(e.update))
    text = doc.get("t", type=Text)
    for i in range(30):
        text.insert(len(text), "ab한🦀"[i % 4])
    del text[2:5]
    return updates


def _panics(base: list[bytes], update: bytes) -> bool:
    doc = Doc()
    for part in base[:3]:
        doc.apply_update(part)
    try:
        doc.apply_update(update)
    except Exception:
        return False
    except BaseException:
        return True
    return False


async def test_fuzzed_updates_never_hurt_the_room(limited: TandemServer) -> None:
    """Mutated updates, including ones that make Yrs panic, close only their connection."""
    room = f"fuzz-{uuid.uuid4().hex[:6]}"
    base = _base_updates()
    candidates = _mutated_updates(base, seed=1, count=3000)
    panicking = [u for u in candidates if _panics(base, u)][:3]
    assert panicking, "the mutation corpus should include updates that make yrs panic"
    corpus = panicking + candidates[:40]
    async with pycrdt_client(limited.ws_url, room) as (doc, provider):
        await provider.synced.wait()
        for part in base[:3]:
            doc.apply_update(part)
        for update in corpus:
            async with connect(room_url(limited.ws_url, room), max_size=None) as ws:
                await ws.send(create_sync_message(Doc()))
                await ws.send(create_update_message(update))
                await ws.send(create_sync_message(Doc()))  # any answer proves it is still served
                with anyio.fail_after(10):
                    try:
                        while True:
                            await ws.recv()
                            if ws.close_code is None and ws.state.name == "OPEN":
                                break
                    except ConnectionClosed:
                        assert ws.close_code == closecodes.BAD_REQUEST
        await assert_room_works(limited, room)
    assert "panicked in yrs" in limited.log()
