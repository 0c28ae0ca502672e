"""Unit: a slow client's queued updates merge into fewer messages, in order, losing nothing."""

from __future__ import annotations

from collections import deque

from pycrdt import Doc, Text, create_awareness_message, create_update_message, handle_sync_message

from backend.rooms.coalesce import take_batch


def _updates(n: int) -> list[bytes]:
    doc = Doc()
    out: list[bytes] = []
    doc.observe(lambda e: out.append(e.update))
    text = doc.get("t", type=Text)
    for i in range(n):
        text.insert(len(text), str(i % 10))
    return out


def test_consecutive_updates_merge_and_other_messages_keep_their_place() -> None:
    updates = [create_update_message(u) for u in _updates(50)]
    awareness = create_awareness_message(b"\x00")
    backlog: deque[bytes | object] = deque([*updates[:30], awareness, *updates[30:]])
    total = sum(len(m) for m in backlog)  # type: ignore[arg-type]
    sent: list[bytes] = []
    taken = 0
    while backlog:
        message, size = take_batch(backlog, max_bytes=256 * 1024)
        sent.append(message)
        taken += size
    assert taken == total
    assert len(sent) == 3 and sent[1] == awareness
    doc = Doc()
    for message in (sent[0], sent[2]):
        handle_sync_message(message[1:], doc)
    assert str(doc.get("t", type=Text)) == "".join(str(i % 10) for i in range(50))


def test_merging_stops_at_the_size_limit() -> None:
    updates = [create_update_message(u) for u in _updates(20)]
    limit = sum(len(m) for m in updates[:5])
    backlog: deque[bytes | object] = deque(updates)
    _message, size = take_batch(backlog, max_bytes=limit)
    assert size == limit
    assert len(backlog) == 15 and backlog[0] == updates[5]
