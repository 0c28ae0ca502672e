"""Start an ASGI send now, in the caller, and finish it later only if it has to wait.

uvicorn's `send` completes without suspending whenever the socket is writable, which is nearly
always. Fanning out through one task per client would pay a task wake-up per message (measured:
the largest cost after the socket write itself); instead the room runs each send eagerly, and
only a send that really suspends (the peer's buffer is full) is handed to that client's sender
task to finish. This is what Python 3.12's eager task factory does, on 3.11.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Generator
from typing import Any


class Suspended:
    """An awaitable that resumes a coroutine which already yielded `first` to its driver."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        value = self._first
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # cancellation or a thrown error goes into the send
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value

    def close(self) -> None:
        self._coro.close()


async def _awaiting(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def start_eagerly(send: Awaitable[Any]) -> Suspended | None:
    """Run `send` until it completes (None) or suspends (the rest, to await). Raises its error.

    An ASGI send is typed as any awaitable; uvicorn's is a coroutine, driven directly."""
    coro = send if isinstance(send, Coroutine) else _awaiting(send)
    try:
        first = coro.send(None)
    except StopIteration:
        return None
    return Suspended(coro, first)
