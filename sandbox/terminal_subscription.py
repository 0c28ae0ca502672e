"""One subscriber of a terminal hub: a bounded mailbox that never makes the hub wait.

The hub *offers* events; offering never blocks. When the mailbox overflows, its queued
events are dropped and the subscriber is marked stale; its next `receive()` returns a
`Resync` built from the scrollback ring at that moment, so nothing is sent twice and
memory stays bounded however long the subscriber stalls.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

import anyio

from .errors import TerminalPermissionError
from .terminal_events import Output, ResyncReason, TerminalEvent

if TYPE_CHECKING:
    from .terminal_hub import TerminalHub

logger = logging.getLogger(__name__)

MAX_COLS = 1000
MAX_ROWS = 500


def check_size(cols: int, rows: int) -> tuple[int, int]:
    if not (1 <= cols <= MAX_COLS and 1 <= rows <= MAX_ROWS):
        raise ValueError(f"terminal size {cols}x{rows} out of range")
    return cols, rows


class Subscription:
    """A principal attached to a terminal. Create through `TerminalHub.attach`."""

    def __init__(
        self,
        hub: TerminalHub,
        principal_id: str,
        *,
        can_write: bool,
        size: tuple[int, int] | None,
        max_events: int,
        max_bytes: int,
    ) -> None:
        self._hub = hub
        self.principal_id = principal_id
        self.can_write = can_write
        self.size = size
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._events: deque[TerminalEvent] = deque()
        self._bytes = 0
        # The hub queues a `join` Resync first (the scrollback replay); `lag` is set on overflow.
        self._stale: ResyncReason | None = None
        self._wakeup = anyio.Event()
        self._closed = False
        self.dropped_events = 0
        self.resyncs = 0

    @property
    def lagging(self) -> bool:
        """True while this subscriber has fallen behind and awaits a resync."""
        return self._stale == "lag"

    @property
    def queued_events(self) -> int:
        return len(self._events)

    # -- hub side -------------------------------------------------------------------------

    def offer(self, event: TerminalEvent) -> None:
        """Queue `event` if there is room; never blocks, never raises."""
        if self._closed:
            return
        if self._stale is not None:
            self.dropped_events += 1  # the coming Resync carries this state
            return
        nbytes = len(event.data) if isinstance(event, Output) else 0
        if len(self._events) >= self._max_events or self._bytes + nbytes > self._max_bytes:
            self.dropped_events += len(self._events) + 1
            logger.warning(
                "terminal %s: subscriber %s fell behind (%d events, %d bytes queued); "
                "dropping its queue, resync from scrollback",
                self._hub.name,
                self.principal_id,
                len(self._events),
                self._bytes,
            )
            self._events.clear()
            self._bytes = 0
            self._stale = "lag"
        else:
            self._events.append(event)
            self._bytes += nbytes
        self._wakeup.set()

    def begin(self, replay: TerminalEvent) -> None:
        """Queue the join replay ahead of everything else (it does not count against limits)."""
        self._events.appendleft(replay)
        self._wakeup.set()

    def close(self) -> None:
        """The hub is gone: wake the reader; queued events are still delivered first."""
        self._closed = True
        self._wakeup.set()

    # -- subscriber side ------------------------------------------------------------------

    async def receive(self) -> TerminalEvent:
        """Next event; raises `anyio.EndOfStream` once the hub closed and the queue is empty."""
        while True:
            if self._stale is not None and not self._closed:
                reason, self._stale = self._stale, None
                self.resyncs += 1
                return self._hub.make_resync(reason)
            if self._events:
                event = self._events.popleft()
                if isinstance(event, Output):
                    self._bytes -= len(event.data)
                return event
            if self._closed:
                raise anyio.EndOfStream
            self._wakeup = anyio.Event()
            await self._wakeup.wait()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> TerminalEvent:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def write(self, data: bytes) -> None:
        """Type `data` into the terminal as this principal."""
        if not self.can_write:
            raise TerminalPermissionError(f"{self.principal_id} may not type in this terminal")
        await self._hub.write(self.principal_id, data, source=self)

    async def resize(self, cols: int, rows: int) -> None:
        """Report this client's viewport; only subscribers that may type affect the PTY."""
        self.size = check_size(cols, rows)
        if self.can_write:
            await self._hub.apply_size()


__all__ = ["Subscription", "check_size"]
