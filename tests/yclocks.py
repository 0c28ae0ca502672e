"""A minimal Yjs v1 update decoder: which clock ranges of which client an update carries.

Enough for order checks (tests/test_fanout_order.py, bench/order_check.py): text inserts, deleted
items, GC and skips; anything else raises.
"""

from __future__ import annotations


def _varuint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _varstring(buf: bytes, pos: int) -> tuple[str, int]:
    size, pos = _varuint(buf, pos)
    return buf[pos : pos + size].decode(), pos + size


def clock_ranges(update: bytes) -> list[tuple[int, int, int]]:
    """(client, first clock, end clock) of each run of structs in a v1 update (text inserts only)."""
    ranges: list[tuple[int, int, int]] = []
    clients, pos = _varuint(update, 0)
    for _ in range(clients):
        structs, pos = _varuint(update, pos)
        client, pos = _varuint(update, pos)
        clock, pos = _varuint(update, pos)
        start = clock
        for _ in range(structs):
            info = update[pos]
            pos += 1
            ref = info & 0x1F
            if ref in (0, 10):  # GC, Skip: a length
                length, pos = _varuint(update, pos)
                if ref == 10:  # a gap inside a merged update: close the run before it
                    if clock > start:
                        ranges.append((client, start, clock))
                    start = clock + length
                clock += length
                continue
            if info & 0x80:  # origin
                pos = _varuint(update, _varuint(update, pos)[1])[1]
            if info & 0x40:  # right origin
                pos = _varuint(update, _varuint(update, pos)[1])[1]
            if not info & 0xC0:  # parent: a root name or an item id, then maybe a map key
                is_root, pos = _varuint(update, pos)
                if is_root:
                    _name, pos = _varstring(update, pos)
                else:
                    pos = _varuint(update, _varuint(update, pos)[1])[1]
                if info & 0x20:
                    _key, pos = _varstring(update, pos)
            if ref == 4:  # string content: its length in UTF-16 units
                text, pos = _varstring(update, pos)
                length = len(text.encode("utf-16-le")) // 2
            elif ref == 1:  # deleted content
                length, pos = _varuint(update, pos)
            else:
                raise AssertionError(f"unexpected struct type {ref} in a text-only test")
            clock += length
        if clock > start:
            ranges.append((client, start, clock))
    return ranges
