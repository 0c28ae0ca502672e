"""What the room announces as durable: the state vector, and a digest of the delete set.

A pure deletion never moves the state vector, so a page that compared only state vectors said
"Saved" before its deletion was persisted. The announcement also carries a digest of the delete
set persisted with the same batch; the page computes the same digest over its own doc
(`web/src/room/connection.js` `deleteSetDigest`) and holds "Saving…" after a deletion until they
match. The digest is canonical (clients ascending, ranges sorted and merged) so yrs and Yjs
agree whatever order their encoders use: `client:clock+len,...;` hashed with 32-bit FNV-1a.
"""

from __future__ import annotations

from backend.rooms.protocol import StrictDecoder

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


def delete_set_of(update: bytes) -> dict[int, list[tuple[int, int]]]:
    """The delete set of a struct-less update (`doc.get_update(doc.get_state())`)."""
    decoder = StrictDecoder(update)
    if decoder.read_var_uint() != 0:
        raise ValueError("expected an update without structs")
    ranges: dict[int, list[tuple[int, int]]] = {}
    for _ in range(decoder.read_var_uint()):
        client = decoder.read_var_uint()
        spans = ranges.setdefault(client, [])
        for _ in range(decoder.read_var_uint()):
            spans.append((decoder.read_var_uint(), decoder.read_var_uint()))
    return ranges


def digest(ranges: dict[int, list[tuple[int, int]]]) -> str:
    parts = []
    for client in sorted(ranges):
        merged: list[list[int]] = []
        for clock, length in sorted(ranges[client]):
            if length <= 0:
                continue
            if merged and clock <= merged[-1][0] + merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], clock + length - merged[-1][0])
            else:
                merged.append([clock, length])
        if merged:
            parts.append(f"{client}:" + ",".join(f"{c}+{n}" for c, n in merged) + ";")
    h = FNV_OFFSET
    for char in "".join(parts).encode():  # ASCII: the same units as JavaScript's charCodeAt
        h = ((h ^ char) * FNV_PRIME) & 0xFFFFFFFF
    return f"{h:08x}"


def has_deletions(update: bytes) -> bool:
    """Whether an update's delete set is non-empty: it ends the update, and is a single 0 when empty
    (a non-empty one ends with a range length, never 0)."""
    return bool(update) and update[-1] != 0
