"""One subscriber of a terminal hub: a bounded mailbox that never makes the hub wait.

The hub *offers* events; offering never blocks. The mailbox counts its backlog in bytes of
output; the hub pauses its PTY reads while *every* subscriber's backlog is over the flow
threshold (so a client that keeps up, alone or with others, gets every byte), but one slow
subscriber never holds back the PTY or the others: when its backlog overflows its own limit,
its queue is dropped and it is marked behind. Its next `receive()` then returns a `Skipped`
event: the output it missed that the scrollback ring still holds (the live tail) and how many
bytes the ring no longer had — shown as a one-line mark, without resetting the screen.
Frames are shared `bytes` objects, so the memory a terminal holds for its subscribers is the
largest backlog, not the sum.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

import anyio

from .errors import TerminalPermissionError
from .terminal_events import Output, Resync, Skipped, TerminalEvent

if TYPE_CHECKING:
    from .terminal_hub import TerminalHub

logger = logging.getLogger(__name__)

MAX_COLS = 1000
MAX_ROWS = 500


def check_size(cols: int, rows: int) -> tuple[int, int]:
    if not (1 <= cols <= MAX_COLS and 1 <= rows <= MAX_ROWS):
        raise ValueError(f"terminal size {cols}x{rows} out of range")
    return cols, rows


class TerminalSubscription:
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
        wants_output: bool = True,
    ) -> None:
        self._hub = hub
        self.principal_id = principal_id
        self.can_write = can_write
        self.size = size
        self.wants_output = wants_output
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._events: deque[TerminalEvent] = deque()
        self._bytes = 0
        # Stream offsets (bytes of output since the hub started): just past the last output
        # queued, and while behind, the first byte this subscriber did not get.
        self._queued_end = 0
        self._gap_from: int | None = None
        self._wakeup = anyio.Event()
        self._closed = False
        self.dropped_events = 0
        self.resyncs = 0  # times this subscriber fell behind and was caught up
        self.skipped_bytes = 0  # output it never got (the ring no longer held it)

    @property
    def lagging(self) -> bool:
        """True while this subscriber has fallen behind and awaits its catch-up."""
        return self._gap_from is not None

    @property
    def queued_events(self) -> int:
        return len(self._events)

    @property
    def backlog_bytes(self) -> int:
        """Output queued for this subscriber and not yet received."""
        return self._bytes

    @property
    def paces_output(self) -> bool:
        """Whether the hub's flow control counts this subscriber (it reads output and keeps up)."""
        return self.wants_output and self._gap_from is None and not self._closed

    # -- hub side -------------------------------------------------------------------------

    def offer(self, event: TerminalEvent) -> None:
        """Queue `event` if there is room; never blocks, never raises."""
        if self._closed:
            return
        if self._gap_from is not None:
            self.dropped_events += 1  # the coming catch-up carries this state
            return
        nbytes = 0
        if isinstance(event, Output):
            if not self.wants_output:
                return
            nbytes = len(event.data)
        if len(self._events) >= self._max_events or self._bytes + nbytes > self._max_bytes:
            self._fall_behind()
        else:
            self._events.append(event)
            self._bytes += nbytes
            self._queued_end += nbytes
        self._wakeup.set()

    def _fall_behind(self) -> None:
        logger.warning(
            "terminal %s: subscriber %s fell behind (%d events, %d bytes queued); "
            "dropping its queue, it continues from the scrollback with a skip mark",
            self._hub.name,
            self.principal_id,
            len(self._events),
            self._bytes,
        )
        self.dropped_events += len(self._events) + 1
        self._gap_from = self._queued_end - self._bytes
        self._events.clear()
        self._bytes = 0
        self._hub.wake_reader()  # it no longer paces the output

    def begin(self, replay: Resync, offset: int) -> None:
        """Queue the join replay (the ring up to stream `offset`) ahead of everything else."""
        self._queued_end = offset
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
            if self._gap_from is not None and not self._closed:
                return self._catch_up(self._gap_from)
            if self._events:
                event = self._events.popleft()
                if isinstance(event, Output):
                    self._bytes -= len(event.data)
                    self._hub.wake_reader()
                return event
            if self._closed:
                raise anyio.EndOfStream
            self._wakeup = anyio.Event()
            await self._wakeup.wait()

    def _catch_up(self, gap_from: int) -> Skipped:
        # No await between building the event and moving the offset: nothing lost or doubled.
        event, end = self._hub.catch_up(gap_from, with_output=self.wants_output)
        self._gap_from = None
        self._queued_end = end
        self.resyncs += 1
        self.skipped_bytes += event.nbytes
        return event

    def __aiter__(self) -> TerminalSubscription:
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


__all__ = ["TerminalSubscription", "check_size"]
