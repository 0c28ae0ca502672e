"""Parse y-websocket frames once, strictly, into typed messages.

pycrdt provides the message constants and encoders; its `Decoder` does not bound-check a length
prefix (a huge prefix silently yields a short slice), so `StrictDecoder` adds those checks and
every malformed frame becomes a `ProtocolError` that maps to a close code.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycrdt import Decoder, YMessageType, YSyncMessageType

from backend.errors import ProtocolError

# y-websocket's message types beyond pycrdt's SYNC and AWARENESS.
MESSAGE_AUTH = 2
MESSAGE_QUERY_AWARENESS = 3

# An empty Yjs update (no structs, no deletions): y-websocket clients send it; apply nothing.
EMPTY_UPDATE = b"\x00\x00"


class StrictDecoder(Decoder):
    """pycrdt's decoder with bounds checks on every read."""

    def read_var_uint(self) -> int:
        uint = 0
        shift = 0
        while True:
            if self.length <= 0:
                raise ProtocolError("truncated varint")
            byte = self.stream[self.i0]
            self.i0 += 1
            self.length -= 1
            uint |= (byte & 127) << shift
            if byte < 128:
                return uint
            shift += 7
            if shift > 63:
                raise ProtocolError("varint too long")

    def read_message(self) -> bytes | None:
        if self.length == 0:
            return None
        size = self.read_var_uint()
        if size > self.length:
            raise ProtocolError(f"length prefix {size} exceeds the {self.length} bytes left")
        start = self.i0
        self.i0 += size
        self.length -= size
        return bytes(self.stream[start : self.i0])

    def read_payload(self) -> bytes:
        payload = self.read_message()
        if payload is None:
            raise ProtocolError("missing payload")
        return payload


@dataclass(frozen=True, slots=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    """A SYNC_STEP2 or SYNC_UPDATE: both carry an update to apply."""

    update: bytes
    step2: bool


@dataclass(frozen=True, slots=True)
class AwarenessUpdate:
    update: bytes


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    pass


Message = SyncStep1 | SyncUpdate | AwarenessUpdate | QueryAwareness


def parse_message(frame: bytes) -> Message:
    """Parse one binary WebSocket frame (y-websocket sends one message per frame)."""
    decoder = StrictDecoder(frame)
    kind = decoder.read_var_uint()
    if kind == YMessageType.SYNC:
        sub = decoder.read_var_uint()
        payload = decoder.read_payload()
        if sub == YSyncMessageType.SYNC_STEP1:
            return SyncStep1(payload)
        if sub == YSyncMessageType.SYNC_STEP2:
            return SyncUpdate(payload, step2=True)
        if sub == YSyncMessageType.SYNC_UPDATE:
            return SyncUpdate(payload, step2=False)
        raise ProtocolError(f"unknown sync message type {sub}")
    if kind == YMessageType.AWARENESS:
        return AwarenessUpdate(decoder.read_payload())
    if kind == MESSAGE_QUERY_AWARENESS:
        return QueryAwareness()
    raise ProtocolError(f"unknown message type {kind}")


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state_json: str


def parse_awareness_update(update: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update strictly (pycrdt's `Awareness` would raise IndexError)."""
    decoder = StrictDecoder(update)
    count = decoder.read_var_uint()
    if count > 10_000:
        raise ProtocolError(f"awareness update claims {count} clients")
    entries = []
    for _ in range(count):
        client_id = decoder.read_var_uint()
        clock = decoder.read_var_uint()
        raw = decoder.read_payload()
        try:
            state_json = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("awareness state is not UTF-8") from exc
        entries.append(AwarenessEntry(client_id, clock, state_json))
    return entries
