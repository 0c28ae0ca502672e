"""`state_key(doc)`: one short string per CRDT state, equal on every node that holds that state.

A Yjs state is exactly its state vector (which inserts it has) plus its delete set (which of
them are deleted): two replicas with equal pairs hold the same document, whatever order their
updates arrived in, and a state never comes back once left (both only grow), so the key also
tells a new version from an old one with the same text. `doc.get_update()` bytes are not such a
key: the encoder's block splits and map iteration order may differ between replicas.

The pair comes from pycrdt's `Snapshot` (v1: delete set, then state vector); its entries are
sorted and adjacent delete ranges merged before hashing, so the key does not depend on them.
"""

from __future__ import annotations

import hashlib

from pycrdt import Doc, Snapshot


def state_key(doc: Doc) -> str:
    return _canonical_hash(Snapshot.from_doc(doc).encode())


def _canonical_hash(snapshot: bytes) -> str:
    reader = _Reader(snapshot)
    deletes: dict[int, list[tuple[int, int]]] = {}
    for _ in range(reader.uint()):
        client = reader.uint()
        ranges = deletes.setdefault(client, [])
        for _ in range(reader.uint()):
            ranges.append((reader.uint(), reader.uint()))
    clocks = {reader.uint(): reader.uint() for _ in range(reader.uint())}
    if not reader.done():
        raise ValueError("trailing bytes after a snapshot")
    out = hashlib.blake2b(digest_size=20)
    for client, clock in sorted(clocks.items()):
        out.update(b"s%d:%d;" % (client, clock))
    for client in sorted(deletes):
        for start, length in _merged(deletes[client]):
            out.update(b"d%d:%d+%d;" % (client, start, length))
    return out.hexdigest()


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, with overlapping and adjacent ranges joined; empty ones dropped."""
    out: list[tuple[int, int]] = []
    for start, length in sorted(r for r in ranges if r[1] > 0):
        if out and start <= out[-1][0] + out[-1][1]:
            last_start, last_length = out[-1]
            out[-1] = (last_start, max(last_length, start + length - last_start))
        else:
            out.append((start, length))
    return out


class _Reader:
    """lib0 variable-length unsigned integers, the only field type of a v1 snapshot."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def uint(self) -> int:
        value = shift = 0
        while True:
            if self.pos >= len(self.data):
                raise ValueError("truncated snapshot")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def done(self) -> bool:
        return self.pos == len(self.data)
