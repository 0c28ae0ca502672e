"""Events a terminal hub delivers to its subscribers (the backend maps them to WebSocket frames).

`Output` and `Resync` carry raw terminal bytes (binary frames); the rest are control
messages (`status`, `exit`, `resize`, `attribution` JSON text frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TerminalStatus = Literal["starting", "running", "exited", "closed"]
ResyncReason = Literal["join"]  # a laggard gets `Skipped` instead (no screen reset)


@dataclass(frozen=True, slots=True)
class Output:
    """A coalesced frame of PTY output."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Resync:
    """Reset the screen, then write `data` (the scrollback ring).

    Sent first to every new subscriber (`join`) and to one that fell behind (`lag`),
    with the terminal's current state, so no event dropped meanwhile is needed.
    """

    data: bytes
    reason: ResyncReason
    status: TerminalStatus
    cols: int
    rows: int
    exit_status: int | None


@dataclass(frozen=True, slots=True)
class Skipped:
    """This subscriber fell behind and its backlog overflowed: continue without a reset.

    `nbytes` of output were never delivered to it (0 when the scrollback still held all it
    missed); `data` is the newest output it missed that the ring still holds (the live tail),
    written after a one-line mark, so the lines a person was reading stay on screen. The state
    fields are as in `Resync`, since status events are not queued while a subscriber is behind.
    """

    nbytes: int
    data: bytes
    status: TerminalStatus
    cols: int
    rows: int
    exit_status: int | None


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who typed into the terminal: `nbytes` of input from `author_id` at `at` (Unix time)."""

    author_id: str
    at: float
    nbytes: int


@dataclass(frozen=True, slots=True)
class StatusChanged:
    status: TerminalStatus


@dataclass(frozen=True, slots=True)
class Exited:
    """The shell ended; `status` is its exit status, None when it could not be learned."""

    status: int | None


@dataclass(frozen=True, slots=True)
class Resized:
    """The PTY's size changed (to the smallest among subscribers allowed to type)."""

    cols: int
    rows: int


TerminalEvent = Output | Resync | Skipped | Attribution | StatusChanged | Exited | Resized

StateEvent = StatusChanged | Exited | Resized
"""What a hub's state listener hears (`TerminalHub(on_state=...)`): never output or input."""
