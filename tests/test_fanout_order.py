"""Fan-out order: every reader gets each writer's updates in the order that writer sent them.

A real server, two writers sending numbered updates as fast as they can, and four readers: two
that read continuously, one whose socket reads are paused and resumed (a tiny receive buffer and a
`websockets` client that stops calling `recv`, so the server's sends to it suspend and its backlog
fills while the writers keep writing), and one that joins mid-stream. Each reader decodes every
update frame into per-client Yjs clock ranges: a range that starts past what the reader has of
that writer is an update that overtook an earlier one. Run on the fast path (raw frames) and on
every fallback: the eager ASGI send, the backlog-only path, the backlog without coalescing.
Asserts order and counts only.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anyio
import httpx
import pytest
from pycrdt import Doc, Text, create_update_message, handle_sync_message
from websockets.asyncio.client import ClientConnection, connect

from backend.rooms.protocol import SyncUpdate, parse_message
from tests.support import TandemServer, running_server
from tests.yclocks import clock_ranges

pytestmark = pytest.mark.anyio

WRITERS = 2
UPDATES_PER_WRITER = 500
# ~2.5 MB per writer: past a paused socket's kernel buffers (autotuned up to 4 MB) and transport's
PAD = "x" * 5000
BURST = 100  # the paused reader reads a little after each burst of this many updates per writer
READS_PER_RESUME = 5

PATHS: dict[str, dict[str, str]] = {
    "raw-frames": {},
    "eager-asgi": {"TANDEM_FANOUT_RAW_FRAMES": "false"},
    "backlog": {"TANDEM_FANOUT_EAGER_SENDS": "false"},
    "backlog-no-coalesce": {"TANDEM_FANOUT_EAGER_SENDS": "false", "TANDEM_FANOUT_COALESCE_MAX_BYTES": "0"},
    "raw-no-coalesce": {"TANDEM_FANOUT_COALESCE_MAX_BYTES": "0"},
}


@pytest.fixture(scope="module", params=list(PATHS))
def path_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TandemServer, dict[str, str]]]:
    data = tmp_path_factory.mktemp(f"order-{request.param}")
    with running_server(data, None, env=PATHS[request.param]) as server:
        yield server, PATHS[request.param]


def test_decoder_reads_merged_updates() -> None:
    doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda e: updates.append(e.update))
    text = doc.get("t", type=Text)
    for i in range(5):
        text += f"<{i}>"
    assert clock_ranges(updates[1]) == [(doc.client_id, 3, 6)]
    from pycrdt import merge_updates

    assert clock_ranges(merge_updates(*updates)) == [(doc.client_id, 0, 15)]
    assert clock_ranges(merge_updates(updates[0], updates[2])) == [
        (doc.client_id, 0, 3),
        (doc.client_id, 6, 9),
    ]


# -- clients ------------------------------------------------------------------------------------


class Reader:
    """Applies every update it receives and counts updates that overtook an earlier one."""

    def __init__(self, name: str, writers: dict[int, int]) -> None:
        self.name = name
        self.doc = Doc()
        self.have: dict[int, int] = dict.fromkeys(writers, 0)  # next expected clock per writer
        self.final = writers  # writer client id → its last clock, filled in when writers finish
        self.overtakes: list[tuple[int, int, int]] = []
        self.frames = 0
        self.writers_finished = False
        self.done = anyio.Event()

    def take(self, message: bytes) -> None:
        parsed = parse_message(message)
        if isinstance(parsed, SyncUpdate):
            self.frames += 1
            for client, start, end in clock_ranges(parsed.update):
                if client not in self.have:
                    continue
                if start > self.have[client]:
                    self.overtakes.append((client, self.have[client], start))
                self.have[client] = max(self.have[client], end)
            handle_sync_message(message[1:], self.doc)
        self._check()

    def finish(self) -> None:
        """The writers are done (`final` holds their last clocks): `done` is set once all arrived."""
        self.writers_finished = True
        self._check()

    def _check(self) -> None:
        if self.writers_finished and all(self.have[c] >= end for c, end in self.final.items()):
            self.done.set()

    async def read_forever(self, ws: ClientConnection) -> None:
        while True:
            message = await ws.recv()
            assert isinstance(message, bytes)
            self.take(message)


async def _sync(ws: ClientConnection, reader: Reader) -> None:
    """Ask for the document and wait for the answer, before any writer starts."""
    await ws.send(b"\x00\x00\x01\x00")  # SyncStep1 with an empty state vector
    while True:
        message = await ws.recv()
        assert isinstance(message, bytes)
        reader.take(message)
        parsed = parse_message(message)
        if isinstance(parsed, SyncUpdate) and parsed.step2:
            return


def _small_socket(port: int) -> socket.socket:
    """A connected socket that holds very little unread data, so a paused reader backs up fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _client_sends(server: TandemServer) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(server.http_url + "/metrics")).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("tandem_client_sends_total{"):
            path = line.split('path="', 1)[1].split('"', 1)[0]
            out[path] = float(line.rsplit(" ", 1)[1])
    return out


async def test_each_writer_arrives_in_order_at_every_reader(
    path_server: tuple[TandemServer, dict[str, str]],
) -> None:
    server, env = path_server
    room = f"{server.ws_url}/order-{server.port}"
    writer_docs = [Doc() for _ in range(WRITERS)]
    final: dict[int, int] = {doc.client_id: 0 for doc in writer_docs}
    readers = [
        Reader("steady-1", final),
        Reader("steady-2", final),
        Reader("paused", final),
        Reader("late", final),
    ]
    before = await _client_sends(server)
    burst_events = [anyio.Event() for _ in range(UPDATES_PER_WRITER // BURST)]
    writers_done = [0]

    async with (
        connect(room, max_size=None, compression=None, open_timeout=60) as steady1,
        connect(room, max_size=None, compression=None, open_timeout=60) as steady2,
        connect(
            room,
            max_size=None,
            compression=None,
            open_timeout=60,
            max_queue=1,
            sock=_small_socket(server.port),
        ) as paused,
    ):
        for ws, reader in ((steady1, readers[0]), (steady2, readers[1]), (paused, readers[2])):
            await _sync(ws, reader)

        async def read_paused() -> None:
            reader = readers[2]
            for event in burst_events:  # stop reading while a burst goes out, then read a little
                await event.wait()
                for _ in range(READS_PER_RESUME):
                    message = await paused.recv()
                    assert isinstance(message, bytes)
                    reader.take(message)
            await reader.read_forever(paused)

        async def read_late() -> None:
            """Joins mid-stream: nothing of a writer may reach it ahead of the history (step 2)."""
            await burst_events[0].wait()
            async with connect(room, max_size=None, compression=None, open_timeout=60) as late:
                await late.send(b"\x00\x00\x01\x00")
                await readers[3].read_forever(late)

        async def write(index: int) -> None:
            doc = writer_docs[index]
            text = doc.get(f"w{index}", type=Text)
            pending: list[bytes] = []
            doc.observe(lambda e: pending.append(e.update))
            async with connect(room, max_size=None, compression=None, open_timeout=60) as ws:

                async def drain() -> None:  # the server also sends writers the other's updates
                    async for _message in ws:
                        pass

                async with anyio.create_task_group() as inner:
                    inner.start_soon(drain)
                    for seq in range(UPDATES_PER_WRITER):
                        text += f"<{index}:{seq:05d}:{PAD}>"
                        await ws.send(create_update_message(pending.pop()))
                        if (seq + 1) % BURST == 0:
                            writers_done[0] += 1
                            if writers_done[0] % WRITERS == 0:  # every writer finished this burst
                                burst_events[writers_done[0] // WRITERS - 1].set()
                    final[doc.client_id] = len(str(text))
                    inner.cancel_scope.cancel()

        with anyio.fail_after(180):
            async with anyio.create_task_group() as tg:
                tg.start_soon(readers[0].read_forever, steady1)
                tg.start_soon(readers[1].read_forever, steady2)
                tg.start_soon(read_paused)
                tg.start_soon(read_late)
                async with anyio.create_task_group() as writing:
                    for index in range(WRITERS):
                        writing.start_soon(write, index)
                for reader in readers:
                    reader.finish()
                for reader in readers:
                    await reader.done.wait()
                tg.cancel_scope.cancel()

    for reader in readers:
        assert reader.overtakes == [], f"{reader.name}: updates overtook earlier ones {reader.overtakes[:5]}"
        for index, doc in enumerate(writer_docs):
            assert reader.have[doc.client_id] == final[doc.client_id], reader.name
            got = str(reader.doc.get(f"w{index}", type=Text))
            assert got == "".join(f"<{index}:{seq:05d}:{PAD}>" for seq in range(UPDATES_PER_WRITER))
    after = await _client_sends(server)
    delta = {path: after.get(path, 0) - before.get(path, 0) for path in after}
    # The paused reader really made the server queue behind it (the path under test was taken).
    assert delta["queued"] > 0, delta
    if env.get("TANDEM_FANOUT_EAGER_SENDS") == "false":
        assert delta["raw"] == delta["eager"] == delta["suspended"] == 0, delta
    elif env.get("TANDEM_FANOUT_RAW_FRAMES") == "false":
        assert delta["raw"] == 0 and delta["eager"] > 0 and delta["suspended"] > 0, delta
    else:
        assert delta["raw"] > 0 and delta["suspended"] > 0, delta


async def test_a_client_that_speaks_first_without_sync_step1_misses_nothing(
    path_server: tuple[TandemServer, dict[str, str]],
) -> None:
    """Live updates wait for a new client's first message; if that is not a SyncStep1, the client
    first gets what changed since it joined, then live updates, in order."""
    server, _env = path_server
    room = f"{server.ws_url}/gate-{server.port}"
    writer_doc = Doc()
    text = writer_doc.get("t", type=Text)
    pending: list[bytes] = []
    writer_doc.observe(lambda e: pending.append(e.update))
    reader = Reader("quiet", {writer_doc.client_id: 0})
    with anyio.fail_after(60):
        async with (
            connect(room, compression=None, open_timeout=60) as quiet,
            connect(room, compression=None, open_timeout=60) as writer,
        ):
            # The server greets each with its SyncStep1: after that, the quiet client is in the room.
            assert isinstance(await quiet.recv(), bytes)
            for seq in range(3):
                text += f"<{seq}>"
                await writer.send(create_update_message(pending.pop()))
            # The writer syncs: the answer proves the room applied its updates (one connection, in
            # order) while the quiet client, which has not spoken yet, got none of them live.
            await writer.send(b"\x00\x00\x01\x00")
            while True:
                message = await writer.recv()
                parsed = parse_message(message) if isinstance(message, bytes) else None
                if isinstance(parsed, SyncUpdate) and parsed.step2:
                    break
            await quiet.send(create_update_message(b"\x00\x00"))  # its first message: not a SyncStep1
            text += "<3>"
            await writer.send(create_update_message(pending.pop()))
            reader.final[writer_doc.client_id] = len(str(text))
            reader.finish()
            while not reader.done.is_set():
                message = await quiet.recv()
                assert isinstance(message, bytes)
                reader.take(message)
    assert reader.overtakes == []
    assert str(reader.doc.get("t", type=Text)) == "<0><1><2><3>"
