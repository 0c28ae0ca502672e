"""Cut a Yjs v1 update into updates of bounded size, so that no sync message passes the frame limit.

pycrdt encodes a diff against a state vector but cannot cut one into pieces, so this module reads
the v1 format (Yjs `readClientsStructRefs`, `readItemContent`; lib0 `readAny`) just far enough to
find where each struct's bytes begin and end, how many clock ticks it spans and which other
structs it points at. Structs are never rewritten: a piece is a run of one client's consecutive
structs copied byte for byte under a new header, so every piece is a valid update and all pieces
merged equal the input (tests/test_updatesplit.py checks that against pycrdt and Yjs).

Pieces go out in an order where, as far as possible, every struct's origin, right origin and
parent arrive before it (a Yjs client holds out-of-order structs as pending and retries them on
every later update: correct, but slow for thousands of pieces). The delete set comes last, after
every struct it may name. One struct larger than the budget (a text longer than the budget,
inserted at once) goes alone in a piece: the budget is a target, the frame limit the bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.errors import ProtocolError

# Per client section: struct count, client id and first clock, each a varuint of at most 10 bytes.
_SECTION_OVERHEAD = 30
_MESSAGE_OVERHEAD = 20


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise ProtocolError("update truncated")
        byte = self.data[self.pos]
        self.pos += 1
        return byte

    def var_uint(self) -> int:
        value = shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def skip_var_int(self) -> None:
        while self.u8() >= 0x80:
            pass

    def skip(self, size: int) -> None:
        if self.pos + size > len(self.data):
            raise ProtocolError("update truncated")
        self.pos += size

    def var_bytes(self) -> bytes:
        size = self.var_uint()
        start = self.pos
        self.skip(size)
        return self.data[start : self.pos]

    def skip_any(self) -> None:
        kind = self.u8()
        if kind in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if kind == 125:
            self.skip_var_int()
        elif kind == 124:
            self.skip(4)
        elif kind in (123, 122):
            self.skip(8)
        elif kind in (119, 116):  # string, Uint8Array
            self.skip(self.var_uint())
        elif kind == 118:  # object
            for _ in range(self.var_uint()):
                self.skip(self.var_uint())
                self.skip_any()
        elif kind == 117:  # array
            for _ in range(self.var_uint()):
                self.skip_any()
        else:
            raise ProtocolError(f"unknown lib0 any type {kind}")


def _utf16_length(raw: bytes) -> int:
    """A Yjs string's length in clock ticks: UTF-16 code units."""
    if raw.isascii():  # most source code: one byte, one unit (and no decoding)
        return len(raw)
    text = raw.decode("utf-8", "surrogatepass")
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _read_struct(r: _Reader, deps: dict[int, int]) -> int:
    """Skip one struct; return its length in clock ticks; note the clocks it needs in `deps`."""
    info = r.u8()
    ref = info & 0x1F
    if ref in (0, 10):  # GC, Skip
        return r.var_uint()
    if info & 0x80:  # origin
        client, clock = r.var_uint(), r.var_uint()
        deps[client] = max(deps.get(client, 0), clock + 1)
    if info & 0x40:  # right origin
        client, clock = r.var_uint(), r.var_uint()
        deps[client] = max(deps.get(client, 0), clock + 1)
    if info & 0xC0 == 0:  # no origins: the parent is written
        if r.var_uint() == 1:
            r.skip(r.var_uint())  # a root type's name
        else:
            client, clock = r.var_uint(), r.var_uint()
            deps[client] = max(deps.get(client, 0), clock + 1)
        if info & 0x20:
            r.skip(r.var_uint())  # parentSub: a map key
    if ref == 1:  # Deleted
        return r.var_uint()
    if ref == 2:  # JSON
        count = r.var_uint()
        for _ in range(count):
            r.skip(r.var_uint())
        return count
    if ref == 3:  # Binary
        r.skip(r.var_uint())
        return 1
    if ref == 4:  # String
        return _utf16_length(r.var_bytes())
    if ref == 5:  # Embed
        r.skip(r.var_uint())
        return 1
    if ref == 6:  # Format
        r.skip(r.var_uint())
        r.skip(r.var_uint())
        return 1
    if ref == 7:  # Type
        if r.var_uint() in (3, 5):  # XmlElement, XmlHook: a name
            r.skip(r.var_uint())
        return 1
    if ref == 8:  # Any
        count = r.var_uint()
        for _ in range(count):
            r.skip_any()
        return count
    if ref == 9:  # Doc
        r.skip(r.var_uint())
        r.skip_any()
        return 1
    raise ProtocolError(f"unknown struct content type {ref}")


@dataclass(slots=True)
class _Piece:
    client: int
    clock: int
    start: int  # byte range of its structs in the input
    end: int
    count: int
    end_clock: int
    deps: dict[int, int] = field(default_factory=dict)


def _var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_pieces(r: _Reader, budget: int) -> tuple[list[list[_Piece]], dict[int, int]]:
    """Each client's structs cut into runs of at most `budget` bytes; each client's first clock."""
    clients: list[list[_Piece]] = []
    first: dict[int, int] = {}
    for _ in range(r.var_uint()):
        count, client, clock = r.var_uint(), r.var_uint(), r.var_uint()
        first[client] = clock
        pieces: list[_Piece] = []
        piece = _Piece(client, clock, r.pos, r.pos, 0, clock)
        for _ in range(count):
            start = r.pos
            deps: dict[int, int] = {}
            length = _read_struct(r, deps)
            if piece.count and r.pos - piece.start > budget:
                pieces.append(piece)
                piece = _Piece(client, piece.end_clock, start, start, 0, piece.end_clock)
            piece.end, piece.count, piece.end_clock = r.pos, piece.count + 1, piece.end_clock + length
            for dep_client, dep_clock in deps.items():
                if dep_client != client and dep_clock > piece.deps.get(dep_client, 0):
                    piece.deps[dep_client] = dep_clock
        if piece.count:
            pieces.append(piece)
        clients.append(pieces)
    return clients, first


def _causal_order(clients: list[list[_Piece]], first: dict[int, int]) -> list[_Piece]:
    """The pieces in an order where each one's dependencies came before it, where one exists."""
    sent = dict(first)  # per client, the clock up to which the receiver will have everything
    queues = [list(reversed(pieces)) for pieces in clients if pieces]
    order: list[_Piece] = []

    def ready(piece: _Piece) -> bool:
        return all(c not in sent or clock <= sent[c] for c, clock in piece.deps.items())

    while queues:
        pick = next((q for q in queues if ready(q[-1])), queues[0])  # a cycle: Yjs waits for the rest
        piece = pick.pop()
        order.append(piece)
        sent[piece.client] = piece.end_clock
        if not pick:
            queues.remove(pick)
    return order


def _delete_set_pieces(r: _Reader, budget: int) -> list[bytes]:
    """The delete set cut into encoded delete sets of at most about `budget` bytes."""
    out: list[bytes] = []
    sections: list[bytes] = []
    size = 0

    def flush() -> None:
        nonlocal sections, size
        if sections:
            out.append(_var_uint(len(sections)) + b"".join(sections))
        sections, size = [], 0

    for _ in range(r.var_uint()):
        client = r.var_uint()
        ranges: list[bytes] = []
        for _ in range(r.var_uint()):
            ranges.append(_var_uint(r.var_uint()) + _var_uint(r.var_uint()))
        while ranges:
            take: list[bytes] = []
            taken = 0
            while ranges and (not take or size + taken + len(ranges[0]) + _SECTION_OVERHEAD <= budget):
                taken += len(ranges[0])
                take.append(ranges.pop(0))
            if size and size + taken + _SECTION_OVERHEAD > budget:
                flush()
            sections.append(_var_uint(client) + _var_uint(len(take)) + b"".join(take))
            size += taken + _SECTION_OVERHEAD
            if ranges:
                flush()
    flush()
    return out


def split_update(update: bytes, max_bytes: int) -> list[bytes]:
    """`update` as updates of at most about `max_bytes` each (one if it fits), in applying order."""
    if len(update) <= max_bytes:
        return [update]
    budget = max(1, max_bytes - _MESSAGE_OVERHEAD - _SECTION_OVERHEAD)
    r = _Reader(update)
    clients, first = _read_pieces(r, budget)
    delete_sets = _delete_set_pieces(r, budget)
    if r.pos != len(update):
        raise ProtocolError(f"{len(update) - r.pos} bytes after the delete set")
    out: list[bytes] = []
    sections: dict[int, list[_Piece]] = {}
    size = 0

    def flush(delete_set: bytes = b"\x00") -> None:
        nonlocal sections, size
        body = [_var_uint(len(sections))]
        for pieces in sections.values():
            head = pieces[0]
            body += [_var_uint(sum(p.count for p in pieces)), _var_uint(head.client), _var_uint(head.clock)]
            body += [update[p.start : p.end] for p in pieces]
        out.append(b"".join(body) + delete_set)
        sections, size = {}, 0

    for piece in _causal_order(clients, first):
        cost = piece.end - piece.start + (0 if piece.client in sections else _SECTION_OVERHEAD)
        if sections and size + cost > budget:
            flush()
            cost = piece.end - piece.start + _SECTION_OVERHEAD
        sections.setdefault(piece.client, []).append(piece)
        size += cost
    # The delete set last: the first part rides with the last structs when it fits.
    for delete_set in delete_sets or [b"\x00"]:
        if sections and size + len(delete_set) > budget:
            flush()
        flush(delete_set)
    return out
