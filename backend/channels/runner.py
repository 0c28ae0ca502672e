"""One runner for every WebSocket channel but `/yjs`: pumps, counters, logging, close on error.

    async with ChannelRunner(websocket, "term", stats, session=s, principal=p.id) as channel:
        ...                                  # accept, attach; an error here closes with its code
        await channel.pumps(pump_in, pump_out)

`pumps` runs both loops in one task group: whichever ends first ends the other. `end(code, reason)`
(from any task: a revocation, an overflow, the far side closing) records the close code — the first
one wins — and stops the pumps. A client that left (`WebSocketDisconnect`, `OSError`) is not an
error. Any other exception, in a pump or in the body, closes this client with the code
`closecodes.close_for` gives (1011 for the unexpected, logged with the context) and never reaches
the server. The socket is closed once, on the way out, with the recorded code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from backend import closecodes
from backend.channels.close import close_with
from backend.ops.counters import ChannelStats

log = logging.getLogger("tandem.channel")

Pump = Callable[[], Awaitable[None]]


class ChannelRunner:
    def __init__(self, websocket: WebSocket, channel: str, stats: ChannelStats, **context: object) -> None:
        self.websocket = websocket
        self.channel = channel
        self.stats = stats
        self.result: tuple[int, str] = (closecodes.NORMAL, "")
        self._ended = False
        self._scope = anyio.CancelScope()
        self._context = " ".join(f"{k}={v!r}" for k, v in context.items())

    def end(self, code: int, reason: str) -> None:
        """Close with `code` once the pumps stop (the first call wins); stop them now."""
        if not self._ended:
            self._ended = True
            self.result = (code, reason)
        self._scope.cancel()

    @property
    def ended(self) -> bool:
        return self._ended

    async def pumps(self, pump_in: Pump, pump_out: Pump) -> None:
        """Run client -> server and server -> client until either ends (or `end` is called)."""
        with self._scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._guard, pump_out)
                tg.start_soon(self._guard, pump_in)

    async def _guard(self, pump: Pump) -> None:
        try:
            await pump()
        except (WebSocketDisconnect, OSError) as exc:
            log.debug("%s %s: client gone: %r", self.channel, self._context, exc)
        except Exception as exc:
            self._fail(exc)
        self._scope.cancel()

    def _fail(self, exc: Exception) -> None:
        code, reason = closecodes.close_for(exc)
        if code == closecodes.INTERNAL_ERROR:
            log.error("%s %s: %s", self.channel, self._context, reason, exc_info=exc)
        else:
            log.info("%s %s: closing %d: %s", self.channel, self._context, code, reason)
        self.end(code, reason)

    async def __aenter__(self) -> ChannelRunner:
        self.stats.opened[self.channel] += 1
        self.stats.open[self.channel] += 1
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        handled = False
        if isinstance(exc, (WebSocketDisconnect, OSError)):
            log.debug("%s %s: client gone: %r", self.channel, self._context, exc)
            handled = True
        elif isinstance(exc, Exception):
            self._fail(exc)
            handled = True
        self.stats.open[self.channel] -= 1
        self.stats.closes[(self.channel, self.result[0])] += 1
        with anyio.CancelScope(shield=True):
            await close_with(self.websocket, *self.result)
        return handled
