"""Merge a slow client's queued document updates into fewer, larger messages.

A client that fell behind has many small update messages waiting; sending them one by one costs a
syscall and a frame each. Consecutive SYNC_UPDATE messages merge into one (up to `max_bytes`) —
the client gets the same document state sooner, and its backlog drains faster.
"""

from __future__ import annotations

from collections import deque

from pycrdt import create_update_message, merge_updates

from backend.errors import ProtocolError
from backend.rooms.protocol import SyncUpdate, parse_message

_UPDATE_PREFIX = b"\x00\x02"  # y-websocket: messageSync, syncUpdate


def take_batch(backlog: deque[bytes | object], max_bytes: int) -> tuple[bytes, int]:
    """Pop the next message to send, consecutive updates merged into one.

    Returns the message and how many queued bytes it took. The caller guarantees `backlog[0]` is
    bytes.
    """
    first = backlog.popleft()
    assert isinstance(first, bytes)
    taken = [first]
    size = len(first)
    if first.startswith(_UPDATE_PREFIX):
        while backlog:
            nxt = backlog[0]
            if (
                not isinstance(nxt, bytes)
                or not nxt.startswith(_UPDATE_PREFIX)
                or size + len(nxt) > max_bytes
            ):
                break
            taken.append(nxt)
            backlog.popleft()
            size += len(nxt)
    if len(taken) == 1:
        return first, size
    try:
        updates = [_update_of(message) for message in taken]
    except ProtocolError:  # our own messages, so this cannot happen; still, never lose one
        backlog.extendleft(reversed(taken[1:]))
        return first, len(first)
    return create_update_message(merge_updates(*updates)), size


def _update_of(message: bytes) -> bytes:
    parsed = parse_message(message)
    if not isinstance(parsed, SyncUpdate):
        raise ProtocolError("not an update")
    return parsed.update
