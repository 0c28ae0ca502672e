"""`backend.rooms.largesync` in process (the logic; tests/test_large_sync.py runs it for real):
a large answer goes out as updates then a SyncStep2; joiners share one cut while the doc is
unchanged; a change meanwhile follows the pieces, never overtakes them."""

from __future__ import annotations

import anyio
import pytest
from pycrdt import Doc, Map, Text, create_sync_message

from backend.rooms import largesync
from backend.rooms.protocol import SyncStep1, SyncUpdate, parse_message
from backend.rooms.room import Room

pytestmark = pytest.mark.anyio


class FakeClient:
    """What a Room needs of a connection: it records what it is sent."""

    def __init__(self, name: str) -> None:
        self.room = "r"
        self.principal = None
        self.name = name
        self.sent: list[bytes] = []

    def send(self, message: bytes, frame: bytes | None = None) -> None:
        self.sent.append(message)

    def close(self, code: int, reason: str) -> None:
        raise AssertionError(f"closed {code} {reason}")

    def synced(self) -> bool:
        return any(isinstance(m, SyncUpdate) and m.step2 for m in map(_parse, self.sent))


def _parse(message: bytes) -> object:
    return parse_message(message) if message[:1] == b"\x00" else None


def _big_doc() -> Doc:
    doc = Doc()
    files = doc.get("files", type=Map)
    for i in range(40):
        files[f"f{i}.py"] = Text(f"# file {i}\n" + "x = 1\n" * 2000)
    return doc


def _replay(client: FakeClient) -> tuple[Doc, list[str]]:
    doc, kinds = Doc(), []
    for message in client.sent:
        parsed = _parse(message)
        if isinstance(parsed, SyncUpdate):
            kinds.append("step2" if parsed.step2 else "update")
            doc.apply_update(parsed.update)
        elif isinstance(parsed, SyncStep1):
            kinds.append("step1")
    return doc, kinds


async def test_joiners_share_a_cut_and_changes_follow_the_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    cuts: list[int] = []
    real = largesync.split_update

    def counting(update: bytes, max_bytes: int) -> list[bytes]:
        if len(update) > max_bytes:  # a real cut (small updates come back as they are)
            cuts.append(len(update))
        return real(update, max_bytes)

    monkeypatch.setattr(largesync, "split_update", counting)
    doc = _big_doc()
    room = Room("r", doc, node_id="n", durable_announce_seconds=60, sync_message_max_bytes=64 * 1024)
    a, b = FakeClient("a"), FakeClient("b")
    for client in (a, b):
        room.join(client)  # type: ignore[arg-type]
        room.handle(client, create_sync_message(Doc()))  # type: ignore[arg-type]
    # While the answer is being cut, an edit happens: it must not reach them before the pieces.
    doc.get("files", type=Map)["late.py"] = Text("late = True\n")
    room._flush_batch()
    assert not a.synced() and not any(isinstance(_parse(m), SyncUpdate) for m in a.sent)
    with anyio.fail_after(30):
        while not (a.synced() and b.synced()):
            await anyio.sleep(0.01)
    assert len(cuts) == 1  # one cut for both joiners
    for client in (a, b):
        replica, kinds = _replay(client)
        first_step2 = kinds.index("step2")
        assert kinds[0] == "step1" and set(kinds[1:first_step2]) == {"update"} and first_step2 > 2
        assert kinds[first_step2 + 1 :] == ["update"]  # the edit made meanwhile, after the pieces
        assert {k: str(v) for k, v in replica.get("files", type=Map).items()} == {
            k: str(v) for k, v in doc.get("files", type=Map).items()
        }
        assert max(len(m) for m in client.sent) <= 64 * 1024 + 64
    # The doc changed since: the next joiner gets a new cut.
    c = FakeClient("c")
    room.join(c)  # type: ignore[arg-type]
    room.handle(c, create_sync_message(Doc()))  # type: ignore[arg-type]
    with anyio.fail_after(30):
        while not c.synced():
            await anyio.sleep(0.01)
    assert len(cuts) == 2
    await room.close()


async def test_a_small_answer_is_one_step2() -> None:
    doc = Doc()
    doc.get("files", type=Map)["a.py"] = Text("a = 1\n")
    room = Room("r", doc, node_id="n", durable_announce_seconds=60)
    client = FakeClient("a")
    room.join(client)  # type: ignore[arg-type]
    room.handle(client, create_sync_message(Doc()))  # type: ignore[arg-type]
    assert _replay(client)[1] == ["step1", "step2"]
    await room.close()
