"""`Tunnels`: this node's inbox on the bus, the tunnels it serves as owner and those it forwards.

Why tunnel whole WebSocket connections rather than publish terminal output and signaling
messages on per-session channels: a terminal is one process in one container and a screen share
is one hub with one relay, so their state lives on one node (the session's owner, see
backend.bus.leases). Carrying the connection there keeps one code path for every client —
the ordinary endpoint, its limits, its access re-checks — wherever the client entered, and
costs one bus hop each way. Rooms do not tunnel: their CRDT state replicates (backend.rooms).

Failure: a lost owner (the bus reports it), a lost entry node, a bus reconnect (messages may be
lost) or a sequence gap closes the affected tunnels with 1012; clients reconnect and the lease
moves to a live node.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from backend import closecodes
from backend.auth.types import Principal
from backend.bus.leases import Leases, lease_key
from backend.bus.types import Bus, BusMessage, Subscription
from backend.ops import logcontext
from backend.ops.counters import ChannelStats
from backend.tunnel import frames
from backend.tunnel.entry import EntryEnd
from backend.tunnel.owner import OwnerEnd

log = logging.getLogger("tandem.tunnel")

# An endpoint run on the owner: (scope with the principal, receive, send).
Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class TunnelLimits:
    window_bytes: int = 256 * 1024  # unacknowledged bytes owner -> client before the owner waits
    entry_queue: int = 4096  # frames waiting for a slow client on the entry node
    open_timeout_seconds: float = 10.0


class Tunnels:
    def __init__(
        self,
        bus: Bus,
        leases: Leases,
        endpoints: dict[str, Endpoint],
        limits: TunnelLimits,
        stats: ChannelStats | None = None,
    ) -> None:
        self.bus = bus
        self.stats = stats if stats is not None else ChannelStats()  # the entry ends' connections
        self.leases = leases
        self.endpoints = endpoints
        self.limits = limits
        self.node_id = bus.node_id
        self._entries: dict[str, EntryEnd] = {}
        self._owned: dict[str, OwnerEnd] = {}
        self._all_done = anyio.Event()  # set whenever no owned tunnel is left
        self._all_done.set()
        self._sub: Subscription | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self.opened = 0  # tunnels served as owner (a metric)
        self.broken = 0  # tunnels closed by a lost node, a lost message or a bus reconnect

    @property
    def entry_count(self) -> int:
        return len(self._entries)

    @property
    def owned_count(self) -> int:
        return len(self._owned)

    async def __aenter__(self) -> Tunnels:
        self._tg = await anyio.create_task_group().__aenter__()
        self._sub = await self.bus.subscribe(frames.inbox(self.node_id), self._on_message, ephemeral=True)
        self.bus.on_peer_lost(self._peer_lost)
        self.bus.on_reconnect(self._reconnected)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        if self._sub is not None:
            self._sub.close()
        tg, self._tg = self._tg, None
        if tg is not None:
            with anyio.move_on_after(2, shield=True):  # the endpoints finish their close
                await self._all_done.wait()
            tg.cancel_scope.cancel()
            await tg.__aexit__(et, e, tb)

    def close(self) -> None:
        """Shutdown: every tunnel served here ends with 1012 (clients reconnect elsewhere)."""
        for end in list(self._owned.values()):
            end.finish(closecodes.SERVICE_RESTART, "server restarting")
            end.lost()

    # -- entry side ------------------------------------------------------------------------------

    async def forward(
        self, websocket: WebSocket, owner: str, route: str, session: str, principal: Principal
    ) -> None:
        """Serve `websocket` (authenticated, not yet accepted) on `owner` until either side closes."""
        tid = frames.new_tunnel_id()
        end = EntryEnd(tid, owner, self._publisher(owner), self.limits.window_bytes, self.limits.entry_queue)
        self._entries[tid] = end
        log.info("session=%r: %s tunnelled to node %s (tunnel %s)", session, route, owner, tid)
        body = {
            "reply": self.node_id,
            "route": route,
            "session": session,
            "scope": frames.scope_to_json(dict(websocket.scope)),
            "principal": frames.principal_to_json(principal),
            "request_id": logcontext.request_id.get(),
        }
        try:
            end.open(frames.dumps(body))
            await end.run(websocket, self.limits.open_timeout_seconds, self.stats)
        finally:
            self._entries.pop(tid, None)
            end.tell_owner_gone()

    # -- owner side ------------------------------------------------------------------------------

    def _open(self, tid: str, body: dict[str, Any]) -> None:
        entry_node = str(body["reply"])
        end = OwnerEnd(tid, entry_node, self._publisher(entry_node), self.limits.window_bytes)
        endpoint = self.endpoints.get(str(body["route"]))
        if endpoint is None or self._tg is None:
            end.finish(closecodes.INTERNAL_ERROR, f"no route {body['route']!r} here")
            return
        self._owned[tid] = end
        if self._all_done.is_set():
            self._all_done = anyio.Event()
        self._tg.start_soon(self._serve, end, endpoint, body)

    async def _serve(self, end: OwnerEnd, endpoint: Endpoint, body: dict[str, Any]) -> None:
        session = str(body["session"])
        principal = frames.principal_from_json(body["principal"])
        scope = frames.scope_from_json(body["scope"], principal)
        logcontext.request_id.set(str(body.get("request_id") or logcontext.new_request_id(None)))
        self.opened += 1
        try:
            with self.leases.hold(lease_key(session)):
                await endpoint(scope, end.receive, end.send)
            end.finish(closecodes.NORMAL, "")
        except Exception:
            log.exception("tunnel %s: the endpoint failed", end.tid)
            end.finish(closecodes.INTERNAL_ERROR, "internal error")
        finally:
            self._owned.pop(end.tid, None)
            if not self._owned:
                self._all_done.set()

    # -- the inbox -------------------------------------------------------------------------------

    def _publisher(self, node: str) -> Callable[[str, bytes], None]:
        channel = frames.inbox(node)

        def publish(kind: str, data: bytes) -> None:
            self.bus.publish(channel, kind, data)

        return publish

    def _on_message(self, message: BusMessage) -> None:
        try:
            tid, seq, payload = frames.unpack(message.data)
            if message.kind == frames.OPEN:
                self._open(tid, json.loads(payload))
                return
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("tunnel: malformed %r message from %s: %s", message.kind, message.sender, exc)
            return
        end: EntryEnd | OwnerEnd | None = self._entries.get(tid) or self._owned.get(tid)
        if end is None:
            return  # closed already
        if seq != end.seq_in:
            log.warning("tunnel %s: message %d lost (got %d); closing", tid, end.seq_in, seq)
            self._break(end, "a tunnel message was lost; reconnect")
            return
        end.seq_in += 1
        end.deliver(message.kind, payload)

    def _break(self, end: EntryEnd | OwnerEnd, reason: str) -> None:
        self.broken += 1
        if isinstance(end, EntryEnd):
            end.fail(closecodes.SERVICE_RESTART, reason)
        else:
            end.finish(closecodes.SERVICE_RESTART, reason)
            end.lost()

    def _ends(self) -> list[EntryEnd | OwnerEnd]:
        return [*self._entries.values(), *self._owned.values()]

    async def _peer_lost(self, node: str) -> None:
        for end in self._ends():
            other = end.owner_node if isinstance(end, EntryEnd) else end.entry_node
            if other == node:
                self._break(end, "the session's node left; reconnect")

    async def _reconnected(self) -> None:
        # Messages may have been lost while the bus was away: no tunnel can be trusted.
        for end in self._ends():
            self._break(end, "the bus reconnected; reconnect")
