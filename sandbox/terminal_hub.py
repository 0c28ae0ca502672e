"""`TerminalHub`: one PTY shared by every subscriber of a terminal (cf. terminado's PtyWithClients).

Output path: PTY reader -> pending buffer -> frames (at most one per `frame_interval`, or
whenever `frame_bytes` are pending) -> scrollback ring + each subscriber's bounded
mailbox. Offering a frame never waits, so a stalled subscriber cannot hold back the
reader or the others; when its backlog overflows it continues from the ring with a skip
mark instead (see `terminal_subscription`).

Flow control: the reader pauses while every subscriber that reads output has at least
`flow_pause_bytes` queued, so clients that keep up lose nothing however fast the program
writes (like `docker exec -t`, the program then waits for its readers). A pause lasts at most
`flow_pause_max` seconds: after that the reader runs on and only the laggards' backlogs grow
(to their limit, then they skip), so a stalled client never stops the shell for good.

Input path: `write(author_id, data)` -> PTY, with an attribution record and event.
Size: the smallest viewport among subscribers allowed to type (like tmux); viewers follow.

State: `on_state` hears every status, exit and size change as it happens, synchronously (e.g.
to mirror them into a document). It is not a subscriber: it takes no subscriber slot, never
receives output and never paces the reader.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType

import anyio
from anyio.abc import TaskGroup

from .errors import (
    PtyClosedError,
    SandboxError,
    TerminalClosedError,
    TerminalFullError,
    TerminalInputTooLargeError,
)
from .scrollback import ScrollbackRing
from .terminal_events import (
    Attribution,
    Exited,
    Output,
    Resized,
    Resync,
    ResyncReason,
    Skipped,
    StateEvent,
    StatusChanged,
    TerminalEvent,
    TerminalStatus,
)
from .terminal_replies import is_terminal_reply
from .terminal_subscription import TerminalSubscription, check_size
from .types import Pty

logger = logging.getLogger(__name__)

PtyFactory = Callable[[int, int], Awaitable[Pty]]
"""Starts a new PTY of the given (cols, rows), e.g. `partial(sandbox.start_pty, sid, name)`."""

StateListener = Callable[[StateEvent], None]


class TerminalHub:
    """Fans one PTY out to many subscribers. Use as `async with TerminalHub(...) as hub:`."""

    def __init__(
        self,
        pty_factory: PtyFactory,
        *,
        name: str = "terminal",
        cols: int = 80,
        rows: int = 24,
        scrollback_bytes: int = 256 * 1024,
        frame_interval: float = 0.016,
        frame_bytes: int = 32 * 1024,
        subscriber_max_events: int = 4096,
        subscriber_max_bytes: int = 8 * 1024 * 1024,
        flow_pause_bytes: int = 512 * 1024,
        flow_pause_max: float = 3.0,
        max_subscribers: int = 32,
        max_input_bytes: int = 64 * 1024,
        attribution_history: int = 1024,
        exit_wait_timeout: float = 5.0,
        preamble: bytes = b"",
        on_state: StateListener | None = None,
    ) -> None:
        if frame_bytes <= 0 or frame_interval < 0:
            raise ValueError("frame_bytes must be positive and frame_interval non-negative")
        self.name = name
        self._factory = pty_factory
        self._cols, self._rows = check_size(cols, rows)
        self._ring = ScrollbackRing(scrollback_bytes)
        self._ring.append(preamble)  # e.g. the previous shell's tail and a line saying it ended
        self._frame_interval = frame_interval
        self._frame_bytes = frame_bytes
        self._sub_max_events = subscriber_max_events
        self._sub_max_bytes = subscriber_max_bytes
        self._max_subscribers = max_subscribers
        self._flow_pause_bytes = flow_pause_bytes
        self._flow_pause_max = flow_pause_max
        self._room_to_read = anyio.Event()
        self._free_running = False  # a pause timed out: read on until someone catches up
        self._stopping = False  # hanging up: read to EOF without pausing
        self.flow_pauses = 0
        self._max_input_bytes = max_input_bytes
        self._exit_wait_timeout = exit_wait_timeout
        self._attributions: deque[Attribution] = deque(maxlen=attribution_history)
        self._subscribers: list[TerminalSubscription] = []
        self._pending = bytearray()
        self._has_pending = anyio.Event()
        self._on_state = on_state
        self._pty: Pty | None = None
        self._pump_done = anyio.Event()
        self._exited = anyio.Event()
        self._status: TerminalStatus = "starting"
        self._exit_status: int | None = None
        self._write_lock = anyio.Lock()
        self._size_lock = anyio.Lock()
        self._lifecycle_lock = anyio.Lock()
        self._stack: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        self.frames_sent = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> TerminalHub:
        async with AsyncExitStack() as stack:
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            await self._start_pty()
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._stack is not None and self._tg is not None
        with anyio.CancelScope(shield=True):
            await self._stop_pty()
        self._tg.cancel_scope.cancel()
        await self._stack.aclose()
        self._set_status("closed")
        for sub in self._subscribers:
            sub.close()
        self._subscribers.clear()

    async def restart(self) -> None:
        """Hang up the current shell (if still running) and start a new one, same size."""
        async with self._lifecycle_lock:
            await self._stop_pty()
            await self._start_pty()

    async def _start_pty(self) -> None:
        assert self._tg is not None
        self._set_status("starting")
        self._stopping = False
        self._exit_status = None
        self._exited = anyio.Event()
        pty = await self._factory(self._cols, self._rows)
        self._pty = pty
        self._pump_done = anyio.Event()
        self._set_status("running")
        self._tg.start_soon(self._pump, pty, self._pump_done, name=f"terminal-pump:{self.name}")

    async def _stop_pty(self) -> None:
        pty = self._pty
        if pty is None:
            return
        self._stopping = True  # a paused reader must not hold up the hang-up
        self.wake_reader()
        await pty.aclose()  # the pump then reads EOF and reports the exit
        await self._pump_done.wait()

    # -- output path ----------------------------------------------------------------------

    async def _pump(self, pty: Pty, done: anyio.Event) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._flush_loop)
                await self._read_until_eof(pty)
                tg.cancel_scope.cancel()
            self._flush(everything=True)
            status: int | None = None
            with anyio.move_on_after(self._exit_wait_timeout):
                try:
                    status = await pty.wait()
                except SandboxError as exc:
                    logger.warning("terminal %s: exit status unknown: %s", self.name, exc)
            await pty.aclose()
            self._exit_status = status
            self._set_status("exited")
            self._publish(Exited(status))
            self._exited.set()
        finally:
            done.set()

    async def _read_until_eof(self, pty: Pty) -> None:
        while True:
            await self._wait_for_readers()
            try:
                chunk = await pty.read()
            except SandboxError as exc:
                logger.warning("terminal %s: pty read failed, treating as exit: %s", self.name, exc)
                return
            if not chunk:
                return
            self._pending += chunk
            if len(self._pending) >= self._frame_bytes:
                self._flush(everything=False)
            if self._pending:
                self._has_pending.set()

    def _all_behind(self) -> bool:
        if self._stopping:
            return False
        pacing = [s for s in self._subscribers if s.paces_output]
        return bool(pacing) and all(s.backlog_bytes >= self._flow_pause_bytes for s in pacing)

    async def _wait_for_readers(self) -> None:
        if self._free_running:
            if self._all_behind():
                return
            self._free_running = False
        if not self._all_behind():
            return
        self.flow_pauses += 1
        with anyio.move_on_after(self._flow_pause_max) as scope:
            while self._all_behind():
                self._room_to_read = anyio.Event()
                await self._room_to_read.wait()
        if scope.cancelled_caught:
            logger.info(
                "terminal %s: every viewer behind for %.1fs; reading on, laggards will skip",
                self.name,
                self._flow_pause_max,
            )
            self._free_running = True

    def wake_reader(self) -> None:
        """A backlog shrank or a subscriber stopped pacing: let a paused reader look again."""
        self._room_to_read.set()

    async def _flush_loop(self) -> None:
        # The first bytes after a quiet spell go out at once (echo latency); after a flush
        # the loop sleeps one frame interval, so busy output is coalesced into frames.
        while True:
            await self._has_pending.wait()
            self._has_pending = anyio.Event()
            self._flush(everything=True)
            await anyio.sleep(self._frame_interval)

    def _flush(self, *, everything: bool) -> None:
        while len(self._pending) >= self._frame_bytes or (everything and self._pending):
            frame = bytes(self._pending[: self._frame_bytes])
            del self._pending[: len(frame)]
            self._ring.append(frame)
            self.frames_sent += 1
            self._publish(Output(frame))

    def _publish(self, event: TerminalEvent) -> None:
        for sub in self._subscribers:
            sub.offer(event)
        if self._on_state is not None and isinstance(event, StatusChanged | Exited | Resized):
            try:
                self._on_state(event)
            except Exception:  # the listener's failure never stops the terminal
                logger.exception("terminal %s: state listener failed on %r", self.name, event)

    def _set_status(self, status: TerminalStatus) -> None:
        if status != self._status:
            self._status = status
            self._publish(StatusChanged(status))

    def make_resync(self, reason: ResyncReason) -> Resync:
        """The ring and the current state, for a subscriber that joins or fell behind."""
        return Resync(
            data=self._ring.snapshot(),
            reason=reason,
            status=self._status,
            cols=self._cols,
            rows=self._rows,
            exit_status=self._exit_status,
        )

    def catch_up(self, gap_from: int, *, with_output: bool) -> tuple[Skipped, int]:
        """The `Skipped` event for a subscriber that lost output from stream offset `gap_from`,
        and the offset it continues from. The tail starts at a line start where it can."""
        nbytes, data = self._ring.since(gap_from) if with_output else (0, b"")
        if nbytes:
            newline = data.find(b"\n", 0, 4096)
            if newline >= 0:
                nbytes += newline + 1
                data = data[newline + 1 :]
        event = Skipped(
            nbytes=nbytes,
            data=data,
            status=self._status,
            cols=self._cols,
            rows=self._rows,
            exit_status=self._exit_status,
        )
        return event, self._ring.end

    # -- subscribers ----------------------------------------------------------------------

    @asynccontextmanager
    async def attach(
        self,
        principal_id: str,
        *,
        can_write: bool,
        cols: int | None = None,
        rows: int | None = None,
        wants_output: bool = True,
    ) -> AsyncIterator[TerminalSubscription]:
        """Subscribe for the duration of the block; the first event is a `join` Resync.

        `wants_output=False` (e.g. a mirror of the terminal's state) gets every event but
        output, and never paces the reader."""
        if self._tg is None or self._status == "closed":
            raise TerminalClosedError(f"terminal {self.name} is not running")
        if len(self._subscribers) >= self._max_subscribers:
            raise TerminalFullError(f"terminal {self.name} has {self._max_subscribers} subscribers already")
        size = check_size(cols, rows) if cols is not None and rows is not None else None
        sub = TerminalSubscription(
            self,
            principal_id,
            can_write=can_write,
            size=size,
            max_events=self._sub_max_events,
            max_bytes=self._sub_max_bytes,
            wants_output=wants_output,
        )
        # Replay and registration happen with no await in between: no frame is lost or doubled.
        sub.begin(self.make_resync("join"), self._ring.end)
        self._subscribers.append(sub)
        try:
            await self.apply_size()
            yield sub
        finally:
            if sub in self._subscribers:
                self._subscribers.remove(sub)
                self.wake_reader()
                with anyio.CancelScope(shield=True):
                    await self._apply_size_quietly()

    async def apply_size(self) -> None:
        """Resize the PTY to the smallest viewport among subscribers allowed to type."""
        async with self._size_lock:
            sizes = [s.size for s in self._subscribers if s.can_write and s.size is not None]
            if not sizes:
                return
            cols, rows = min(c for c, _ in sizes), min(r for _, r in sizes)
            if (cols, rows) == (self._cols, self._rows):
                return
            self._cols, self._rows = cols, rows
            if self._pty is not None and self._status == "running":
                await self._pty.resize(cols, rows)
            self._publish(Resized(cols, rows))

    async def _apply_size_quietly(self) -> None:
        try:
            await self.apply_size()
        except SandboxError as exc:  # the PTY may be gone while a subscriber leaves
            logger.info("terminal %s: resize after detach skipped: %s", self.name, exc)

    # -- input path -----------------------------------------------------------------------

    async def write(self, author_id: str, data: bytes, source: TerminalSubscription | None = None) -> None:
        """Type `data` into the PTY as `author_id` (authorization is the caller's job).

        A terminal's own answer to a query (see `terminal_replies`) goes through from one
        subscriber only — the first that may type — and is never attributed."""
        if not data:
            return
        reply = is_terminal_reply(data)
        if reply and source is not None:
            answering = next((s for s in self._subscribers if s.can_write), None)
            if source is not answering:
                return
        if len(data) > self._max_input_bytes:
            raise TerminalInputTooLargeError(
                f"{len(data)} bytes of input exceed the limit of {self._max_input_bytes}"
            )
        pty = self._pty
        if pty is None or self._status != "running":
            raise PtyClosedError(f"terminal {self.name} is {self._status}")
        async with self._write_lock:  # one writer at a time, so inputs never interleave
            await pty.write(data)
        if reply:
            return
        record = Attribution(author_id=author_id, at=time.time(), nbytes=len(data))
        self._attributions.append(record)
        self._publish(record)

    # -- introspection --------------------------------------------------------------------

    @property
    def status(self) -> TerminalStatus:
        return self._status

    @property
    def exit_status(self) -> int | None:
        return self._exit_status

    @property
    def size(self) -> tuple[int, int]:
        return self._cols, self._rows

    @property
    def attributions(self) -> tuple[Attribution, ...]:
        return tuple(self._attributions)

    @property
    def subscribers(self) -> tuple[TerminalSubscription, ...]:
        return tuple(self._subscribers)

    def scrollback(self) -> bytes:
        return self._ring.snapshot()

    async def wait_exit(self) -> int | None:
        """Wait until the current shell has exited; return its status."""
        await self._exited.wait()
        return self._exit_status
