"""Decode a Yjs update (v1 encoding) into its structs and delete set, strictly and without a doc.

The comment policy (`comment_policy`) must know what an update does before it is applied, at a
cost in proportion to the update: pycrdt exposes no struct-level view of an update, so this reads
the wire format of yjs `encodeStateAsUpdate` (lib0 encoding) itself. Item contents are decoded
(they are small in the comments structure); a string's length counts UTF-16 code units, as Yjs
clocks do. Anything malformed raises `ProtocolError`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from backend.errors import ProtocolError
from backend.rooms.protocol import StrictDecoder

ID = tuple[int, int]  # (client, clock)

# Content refs (yjs `contentRefs`); 0 is a GC struct, 10 a Skip.
GC, DELETED, JSON_, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC, SKIP = range(11)
# Type refs of ContentType.
Y_ARRAY, Y_MAP, Y_TEXT, Y_XML_ELEMENT, Y_XML_FRAGMENT, Y_XML_HOOK, Y_XML_TEXT = range(7)

_MAX_DEPTH = 64  # nesting of an Any value


@dataclass(slots=True)
class Item:
    client: int
    clock: int
    length: int
    origin: ID | None
    right_origin: ID | None
    parent_root: str | None  # the root type's name, when the item names it
    parent_id: ID | None  # the parent type's item, when the item names it
    parent_sub: str | None  # the map key
    content_ref: int
    type_ref: int | None = None
    values: list[Any] = field(default_factory=list)  # ContentAny / ContentJSON values

    @property
    def end(self) -> int:
        return self.clock + self.length


@dataclass(slots=True)
class Update:
    items: list[Item]
    # Per client: (first clock, end clock) of the structs the update carries (items, GC, skips).
    ranges: dict[int, tuple[int, int]]
    skipped: bool  # a Skip struct: the update has gaps
    deletes: list[tuple[int, int, int]]  # (client, clock, length)


class _Reader(StrictDecoder):
    def read_var_uint(self) -> int:
        # The hot path of a document-sized decode (the index build at load): locals only.
        stream, i, left = self.stream, self.i0, self.length
        uint = 0
        shift = 0
        while True:
            if left <= 0:
                raise ProtocolError("truncated varint")
            byte = stream[i]
            i += 1
            left -= 1
            uint |= (byte & 127) << shift
            if byte < 128:
                self.i0 = i
                self.length = left
                return uint
            shift += 7
            if shift > 63:
                raise ProtocolError("varint too long")

    def u8(self) -> int:
        if self.length <= 0:
            raise ProtocolError("truncated update")
        byte = self.stream[self.i0]
        self.i0 += 1
        self.length -= 1
        return int(byte)

    def take(self, n: int) -> bytes:
        if n > self.length:
            raise ProtocolError("truncated update")
        start = self.i0
        self.i0 += n
        self.length -= n
        return bytes(self.stream[start : self.i0])

    def string(self) -> str:
        try:
            return self.read_payload_or_empty().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not UTF-8") from exc

    def read_payload_or_empty(self) -> bytes:
        return self.take(self.read_var_uint())

    def var_int(self) -> int:
        byte = self.u8()
        value = byte & 0b111111
        negative = byte & 0b1000000
        shift = 6
        while byte & 0b10000000:
            byte = self.u8()
            value |= (byte & 0b1111111) << shift
            shift += 7
            if shift > 70:
                raise ProtocolError("varint too long")
        return -value if negative else value

    def any(self, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise ProtocolError("value nested too deep")
        tag = self.u8()
        if tag == 127:
            return None  # undefined
        if tag == 126:
            return None
        if tag == 125:
            return self.var_int()
        if tag == 124:
            return struct.unpack(">f", self.take(4))[0]
        if tag == 123:
            return struct.unpack(">d", self.take(8))[0]
        if tag == 122:
            return struct.unpack(">q", self.take(8))[0]
        if tag == 121:
            return False
        if tag == 120:
            return True
        if tag == 119:
            return self.string()
        if tag == 118:
            count = self._count()
            return {self.string(): self.any(depth + 1) for _ in range(count)}
        if tag == 117:
            return [self.any(depth + 1) for _ in range(self._count())]
        if tag == 116:
            return self.read_payload_or_empty()
        raise ProtocolError(f"unknown value tag {tag}")

    def _count(self) -> int:
        count = self.read_var_uint()
        if count > self.length:  # every element takes at least one byte
            raise ProtocolError(f"count {count} exceeds the {self.length} bytes left")
        return count

    def id(self) -> ID:
        return (self.read_var_uint(), self.read_var_uint())


def _utf16_length(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _content(r: _Reader, item: Item) -> None:
    ref = item.content_ref
    if ref == DELETED:
        item.length = r.read_var_uint()
    elif ref == JSON_:
        for _ in range(r._count()):
            raw = r.string()
            try:
                item.values.append(None if raw == "undefined" else json.loads(raw))
            except ValueError as exc:
                raise ProtocolError("bad JSON content") from exc
        item.length = len(item.values)
    elif ref == BINARY:
        r.read_payload_or_empty()
        item.length = 1
    elif ref == STRING:
        item.length = _utf16_length(r.string())
    elif ref == EMBED:
        r.string()
        item.length = 1
    elif ref == FORMAT:
        r.string()
        r.string()
        item.length = 1
    elif ref == TYPE:
        item.type_ref = r.read_var_uint()
        if item.type_ref in (Y_XML_ELEMENT, Y_XML_HOOK):
            r.string()
        elif item.type_ref > Y_XML_TEXT:
            raise ProtocolError(f"unknown type ref {item.type_ref}")
        item.length = 1
    elif ref == ANY:
        item.values = [r.any() for _ in range(r._count())]
        item.length = len(item.values)
    elif ref == DOC:
        r.string()
        r.any()
        item.length = 1
    else:
        raise ProtocolError(f"unknown content ref {ref}")
    if item.length <= 0:
        raise ProtocolError("empty item")


def decode_update(update: bytes) -> Update:
    r = _Reader(update)
    items: list[Item] = []
    ranges: dict[int, tuple[int, int]] = {}
    skipped = False
    for _ in range(r._count()):
        count = r._count()
        client = r.read_var_uint()
        clock = start = r.read_var_uint()
        for _ in range(count):
            info = r.u8()
            ref = info & 0b11111
            if ref in (GC, SKIP):
                length = r.read_var_uint()
                if length <= 0:
                    raise ProtocolError("empty struct")
                skipped = skipped or ref == SKIP
                clock += length
                continue
            origin = r.id() if info & 0x80 else None
            right = r.id() if info & 0x40 else None
            parent_root = parent_id = parent_sub = None
            if not info & 0xC0:
                if r.read_var_uint() == 1:
                    parent_root = r.string()
                else:
                    parent_id = r.id()
                if info & 0x20:
                    parent_sub = r.string()
            item = Item(client, clock, 0, origin, right, parent_root, parent_id, parent_sub, ref)
            _content(r, item)
            items.append(item)
            clock += item.length
        if client in ranges:
            raise ProtocolError(f"client {client} appears twice in one update")
        ranges[client] = (start, clock)
    deletes: list[tuple[int, int, int]] = []
    for _ in range(r._count()):
        client = r.read_var_uint()
        for _ in range(r._count()):
            clock, length = r.read_var_uint(), r.read_var_uint()
            if length:
                deletes.append((client, clock, length))
    return Update(items, ranges, skipped, deletes)


def decode_state_vector(sv: bytes) -> dict[int, int]:
    decoder = StrictDecoder(sv)
    return {decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())}
