"""The node: every part a running app holds, built in order inside one `async with`, then frozen.

`Node.open(settings)` builds each part from the ones before it (no part is filled in later), so a
part that is off is a null object, never `None`: one node has `LocalOwner` instead of tunnels, no
Redis has `NoRedisProbe`, and terminals off is a `TerminalService` whose status says why. Leaving
the block closes them in the reverse order: tunnels (clients hear 1012), terminals (their last doc
writes), the rooms (every room flushed), the bus (its final presence out), the database.

Routes receive only the part they use (backend.routes.deps); the WebSocket channels get
`Sockets`, built before the tunnels that run `/term` and `/signal` for other nodes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.abc
from sqlalchemy import Engine

from backend.access import room_policy
from backend.access.comment_policy import CommentLimits
from backend.access.connlimit import PrincipalConnections
from backend.access.identity import AccountAuthenticator
from backend.access.live import AccessWatcher, RoomAccess
from backend.access.ratelimit import LoginRateLimiter, Windows, make_storage
from backend.auth.noauth import NoAuthAuthenticator
from backend.auth.types import Authenticator
from backend.bus.factory import make_bus
from backend.bus.leases import RedisLeases
from backend.bus.types import Bus
from backend.history.recorder import HistoryRecorder
from backend.history.store import HistoryStore
from backend.lifecycle import OnDeleted, SessionLifecycle
from backend.ops.readiness import Targets
from backend.ops.redisprobe import NoRedisProbe, RedisProbe
from backend.ops.scheduler import BackupScheduler
from backend.rooms.manager import RoomManager
from backend.rooms.replication import channel_of
from backend.routes.departures import Departures
from backend.routes.owned import LeasedOwner, LocalOwner, endpoints
from backend.routes.sockets import Sockets
from backend.routes.ws_auth import Gate
from backend.screenshare import ScreenShareService
from backend.settings import Settings
from backend.store.database import create_tables, make_engine
from backend.store.sql import SqlDocumentStore
from backend.terminals.availability import sandbox_spec
from backend.terminals.live import TerminalAccess
from backend.terminals.service import TerminalService
from backend.terminals.workspace_syncs import WorkspaceSyncs
from backend.tunnel.service import TunnelLimits, Tunnels
from sandbox import workspace_mounts

log = logging.getLogger("tandem.app")


@dataclass(frozen=True)
class Node:
    settings: Settings
    engine: Engine
    store: SqlDocumentStore
    rooms: RoomManager
    authenticator: Authenticator
    # Login, signup and join limits (their storage is shared by the throttle in backend.asgi).
    login_limiter: LoginRateLimiter
    # Open WebSockets per principal, per room and per node (backend.access.connlimit).
    connections: PrincipalConnections
    # The bus between nodes (backend.bus); in-process when TANDEM_REDIS_URL is unset.
    bus: Bus
    # `/readyz`'s Redis client, or `NoRedisProbe` without Redis.
    redis_probe: RedisProbe | NoRedisProbe
    # Workspace file sync of each loaded room (backend.terminals.workspace_syncs).
    workspace_syncs: WorkspaceSyncs
    # Version history: the recorder (and its store) behind /api/sessions/{id}/history.
    history: HistoryRecorder
    # What `/yjs`, `/term` and `/signal` are served with (terminals, screen share among them).
    sockets: Sockets
    # Who serves a session's `/term` and `/signal`: `LocalOwner` on one node, else by lease.
    owners: LocalOwner | LeasedOwner
    # Access changes and deletion, heard by rooms, terminals, screen share... (backend.lifecycle).
    lifecycle: SessionLifecycle

    @property
    def terminals(self) -> TerminalService:
        return self.sockets.terminals

    @property
    def screenshare(self) -> ScreenShareService:
        return self.sockets.screenshare

    def readiness(self) -> Targets:
        return Targets(self.settings, self.store, self.redis_probe, self.terminals, self.rooms.node_id)

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Node]:
        engine = make_engine(settings.resolved_database_url())
        await anyio.to_thread.run_sync(create_tables, engine)
        # Several nodes share the database when they share a Redis (see backend/store/sql.py).
        store = SqlDocumentStore(engine, shared=bool(settings.redis_url))
        async with anyio.create_task_group() as tg, AsyncExitStack() as stack:
            # The bus outlives the rooms (entered first, left last): their final presence goes out.
            bus = await stack.enter_async_context(make_bus(settings))
            rooms, authenticator = _rooms_and_identity(settings, engine, store, tg)
            rooms.use_bus(bus)
            # Login, signup and join limits share one storage (Redis when configured: cluster-wide).
            windows = Windows(make_storage(settings), settings.login_rate_limit_entries)
            limiter = LoginRateLimiter(
                windows,
                settings.login_max_attempts,
                settings.login_window_seconds,
                ip_max_attempts=settings.login_ip_max_attempts,
            )
            connections = PrincipalConnections(
                settings.connections_per_principal_per_room, settings.connections_per_principal
            )
            probe: RedisProbe | NoRedisProbe = NoRedisProbe()
            if settings.redis_url:
                probe = RedisProbe(settings.redis_url, settings.readyz_timeout_seconds)
                stack.push_async_callback(probe.aclose)
            # File sync: a room's workspace is read in when it loads and watched while it is loaded
            # (several nodes: on the session's owner, with its sandbox). Stopped before history's
            # last version of an unloading room, so that version has the final merges.
            syncs = _workspace_syncs(settings, rooms, tg)
            # Terminals: Docker sandbox per session, or off with the reason (`GET /api/sandbox`).
            terminals = await stack.enter_async_context(TerminalService.open(settings, rooms, syncs))
            terminal_access = TerminalAccess(authenticator.recheck, terminals.delete_session)
            # Screen share: signaling hub + aiortc relay; re-checked like the other channels.
            screenshare = await stack.enter_async_context(ScreenShareService.open(settings, authenticator))
            history = _history(settings, engine, rooms, terminals, tg)
            sockets = Sockets(
                Gate(settings, authenticator, connections),
                rooms,
                Departures(rooms, authenticator),
                terminals,
                terminal_access,
                screenshare,
            )
            # Several nodes: terminals and screen shares run on each session's owner node.
            owners: LocalOwner | LeasedOwner = LocalOwner(sockets)
            if settings.redis_url and bus.shared:
                tunnels = await stack.enter_async_context(_tunnels(settings, bus, rooms, sockets))
                owners = LeasedOwner(sockets, tunnels)

            async def forget_history(session: str) -> None:
                await anyio.to_thread.run_sync(history.store.delete_session, session)

            async def drop_room_channel(session: str) -> None:
                bus.drop(channel_of(session))  # a deleted session leaves no stream in Redis

            # The order of backend.lifecycle. The sync before terminals: it lets go of the
            # workspace, then the container and the quota image go.
            lifecycle = SessionLifecycle(
                [
                    RoomAccess(engine, rooms, store),
                    OnDeleted(syncs.forget_session),
                    terminal_access,
                    screenshare,
                    OnDeleted(forget_history),
                    OnDeleted(drop_room_channel),
                ]
            )
            if not settings.no_auth:  # accounts and links: access changes polled
                tg.start_soon(AccessWatcher(engine, settings, lifecycle).run)
            tg.start_soon(rooms.run_reaper)
            if settings.backup_dir is not None:
                tg.start_soon(BackupScheduler(settings, rooms.stats).run)
            node = cls(
                settings,
                engine,
                store,
                rooms,
                authenticator,
                limiter,
                connections,
                bus,
                probe,
                syncs,
                history,
                sockets,
                owners,
                lifecycle,
            )
            log.info("tandem node %s ready on %s:%d", rooms.node_id, settings.host, settings.port)
            try:
                yield node
            finally:
                with anyio.CancelScope(shield=True):
                    owners.close()  # tunnelled clients hear 1012 before their terminals end
                    with anyio.move_on_after(settings.shutdown_timeout_seconds):
                        await terminals.close()  # its last doc writes land before the rooms flush
                    with anyio.move_on_after(settings.shutdown_timeout_seconds):
                        await rooms.close()
                tg.cancel_scope.cancel()
        store.close()
        log.info("tandem stopped: every room flushed")


def _rooms_and_identity(
    settings: Settings, engine: Engine, store: SqlDocumentStore, tg: anyio.abc.TaskGroup
) -> tuple[RoomManager, Authenticator]:
    """`--no-auth`: everyone edits every room, awareness untouched. Otherwise: accounts and share
    links, roles enforced per message, `user` stamped on awareness (access changes: `Node.open`)."""
    if settings.no_auth:
        return RoomManager(settings, store, tg), NoAuthAuthenticator()
    rooms = RoomManager(
        settings,
        store,
        tg,
        can_write=room_policy.can_write,
        stamp=room_policy.stamp,
        guard=room_policy.guard_factory(
            CommentLimits(
                future_ms=settings.comment_future_seconds * 1000,
                max_age_ms=settings.comment_max_age_seconds * 1000,
                max_body_chars=settings.comment_max_body_chars,
            )
        ),
    )
    return rooms, AccountAuthenticator(engine)


def _workspace_syncs(settings: Settings, rooms: RoomManager, tg: anyio.abc.TaskGroup) -> WorkspaceSyncs:
    spec = sandbox_spec(settings)
    mounts = workspace_mounts(
        settings.workspace_quota if settings.sandbox != "off" else "off",
        settings.workspace_max_bytes,
        spec.uid,
        spec.gid,
    )
    syncs = WorkspaceSyncs(settings, tg, on_load=rooms.bus is None, mounts=mounts)
    rooms.after_load.append(syncs.room_loaded)
    rooms.before_unload.append(syncs.room_unloading)
    return syncs


def _history(
    settings: Settings,
    engine: Engine,
    rooms: RoomManager,
    terminals: TerminalService,
    tg: anyio.abc.TaskGroup,
) -> HistoryRecorder:
    """Version history, recorded as rooms change and before they unload (backend.history)."""
    store = HistoryStore(
        engine, settings.history_max_versions_per_session, max_bytes=settings.history_max_bytes_per_session
    )
    history = HistoryRecorder(settings, rooms, store)
    rooms.before_unload.append(history.before_unload)
    rooms.after_load.append(history.after_load)
    history.terminal_activity = terminals.terminal_activity
    if engine.dialect.name == "sqlite" and settings.room_unload_trim_memory:
        # Idle SQLite connections keep page caches: closed when rooms unload, reopened on demand.
        rooms.memory.before_trim.append(engine.pool.dispose)
    tg.start_soon(history.run)
    return history


@asynccontextmanager
async def _tunnels(
    settings: Settings, bus: Bus, rooms: RoomManager, sockets: Sockets
) -> AsyncIterator[Tunnels]:
    assert settings.redis_url is not None
    leases = RedisLeases(
        settings.redis_url,
        prefix=settings.redis_prefix,
        node_id=bus.node_id,
        ttl_seconds=settings.owner_lease_seconds,
        alive=lambda node: node in bus.peers(),
    )
    limits = TunnelLimits(
        window_bytes=settings.tunnel_window_bytes,
        open_timeout_seconds=settings.tunnel_open_timeout_seconds,
    )
    channels = rooms.stats.channels
    async with leases, Tunnels(bus, leases, endpoints(sockets), limits, channels) as tunnels:
        yield tunnels
