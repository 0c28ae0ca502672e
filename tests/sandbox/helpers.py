"""Waiting on terminal subscribers with deadlines (never sleeps as synchronization)."""

from __future__ import annotations

import anyio

from sandbox import Output, Resync, TerminalEvent, TerminalSubscription


async def read_until(sub: TerminalSubscription, needle: bytes, *, within: float = 10.0) -> bytes:
    """Receive events until the terminal bytes seen contain `needle`; return those bytes."""
    seen = bytearray()
    with anyio.fail_after(within):
        while needle not in seen:
            event = await sub.receive()
            if isinstance(event, Output | Resync):
                seen += event.data
    return bytes(seen)


async def next_event_of(sub: TerminalSubscription, kind: type, *, within: float = 10.0) -> TerminalEvent:
    with anyio.fail_after(within):
        while True:
            event = await sub.receive()
            if isinstance(event, kind):
                return event
