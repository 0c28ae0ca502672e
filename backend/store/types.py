"""The store seam: what a room needs to load and persist its updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """Everything persisted for a room: a snapshot (may be empty) and the log after it, in order."""

    snapshot: bytes | None
    updates: list[bytes]
    last_seq: int  # highest log sequence included (0 when none)


class DocumentStore(Protocol):
    """Blocking methods: callers run them in a worker thread (`anyio.to_thread`)."""

    def load(self, room: str) -> StoredDocument: ...

    def append(self, room: str, updates: list[bytes]) -> int:
        """Append updates in one transaction; return the sequence number of the last one."""
        ...

    def compact(self, room: str, snapshot: bytes, upto_seq: int) -> None:
        """Replace the snapshot and drop the log up to `upto_seq`, atomically."""
        ...

    def delete(self, room: str) -> None: ...

    def ping(self) -> None:
        """Raise if the database does not answer."""
        ...

    def close(self) -> None: ...
