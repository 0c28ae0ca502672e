"""`LocalBus`: the bus inside one process (the embedded default, and a second implementation
for the contract tests).

Nodes that share a `LocalHub` see each other's messages; a bus built without a hub is alone
(`shared` is False, and rooms skip replication entirely, as on a single node). Each channel
keeps its last `history_max` messages for `replay`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio
import anyio.abc

from backend.bus.types import BusMessage, Handler, PeerLostListener, ReconnectListener

log = logging.getLogger("tandem.bus")


class LocalHub:
    """The "network" of in-process nodes: channels' histories and every node's subscriptions."""

    def __init__(self, history_max: int = 10_000) -> None:
        self.history_max = history_max
        self.history: dict[str, deque[BusMessage]] = {}
        self.nodes: dict[str, LocalBus] = {}


class _LocalSubscription:
    def __init__(self, bus: LocalBus, channel: str, handler: Handler) -> None:
        self.channel = channel
        self.handler = handler
        self._bus = bus

    def close(self) -> None:
        subs = self._bus._subs.get(self.channel)
        if subs is not None and self in subs:
            subs.remove(self)
            if not subs:
                del self._bus._subs[self.channel]


class LocalBus:
    def __init__(self, hub: LocalHub | None = None, node_id: str | None = None) -> None:
        self.shared = hub is not None
        self.hub = hub if hub is not None else LocalHub()
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self._subs: dict[str, list[_LocalSubscription]] = {}
        self._reconnect: list[ReconnectListener] = []
        self._peer_lost: list[PeerLostListener] = []
        self._tg: anyio.abc.TaskGroup | None = None
        self.dropped = 0

    async def __aenter__(self) -> LocalBus:
        self._tg = await anyio.create_task_group().__aenter__()
        self.hub.nodes[self.node_id] = self
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tg is None:
            return  # never entered, or already closed
        self.hub.nodes.pop(self.node_id, None)
        for other in list(self.hub.nodes.values()):
            other._notify(other._peer_lost, self.node_id)
        tg, self._tg = self._tg, None
        tg.cancel_scope.cancel()
        await tg.__aexit__(et, e, tb)

    def publish(self, channel: str, kind: str, data: bytes) -> None:
        message = BusMessage(channel, kind, data, self.node_id)
        history = self.hub.history.get(channel)
        if history is None:
            history = self.hub.history[channel] = deque(maxlen=self.hub.history_max)
        history.append(message)
        loop = asyncio.get_running_loop()
        for node in self.hub.nodes.values():
            for sub in node._subs.get(channel, ()):
                # Later, not now: a handler never runs inside its publisher's call (as over Redis).
                loop.call_soon(_deliver, sub, message)

    async def subscribe(
        self, channel: str, handler: Handler, *, replay: bool = False, ephemeral: bool = False
    ) -> _LocalSubscription:
        sub = _LocalSubscription(self, channel, handler)
        self._subs.setdefault(channel, []).append(sub)
        if replay:
            for message in list(self.hub.history.get(channel, ())):
                _deliver(sub, message)
        return sub

    async def hold(self, channel: str, persisted: Callable[[], bool] = lambda: False) -> None:
        """In-process history is bounded by `history_max` and dies with the process: no holders."""

    def release(self, channel: str) -> None:
        pass

    def drop(self, channel: str) -> None:
        self.hub.history.pop(channel, None)

    def on_reconnect(self, listener: ReconnectListener) -> None:
        self._reconnect.append(listener)

    def on_peer_lost(self, listener: PeerLostListener) -> None:
        self._peer_lost.append(listener)

    def peers(self) -> set[str]:
        return {n for n in self.hub.nodes if n != self.node_id}

    def simulate_reconnect(self) -> None:
        """Tests: behave as after a lost connection (the listeners repair)."""
        self._notify(self._reconnect)

    def _notify(self, listeners: list[Callable[..., Awaitable[None]]], *args: str) -> None:
        if self._tg is None:
            return
        for listener in listeners:
            self._tg.start_soon(_run_listener, listener, *args)


def _deliver(sub: _LocalSubscription, message: BusMessage) -> None:
    subs = sub._bus._subs.get(sub.channel)
    if subs is None or sub not in subs:
        return  # closed since
    try:
        sub.handler(message)
    except Exception:
        log.exception("bus handler failed on channel %r (%s)", message.channel, message.kind)


async def _run_listener(listener: Callable[..., Awaitable[None]], *args: str) -> None:
    try:
        await listener(*args)
    except Exception:
        log.exception("bus listener failed")
