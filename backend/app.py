"""The composition root: `create_app(settings)` builds every service inside the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import anyio.abc
from fastapi import FastAPI
from sqlalchemy import Engine

from backend.access import room_policy
from backend.access.comment_policy import CommentLimits
from backend.access.connlimit import PrincipalConnections
from backend.access.identity import AccountAuthenticator
from backend.access.live import AccessListener, AccessWatcher
from backend.access.ratelimit import LoginRateLimiter, Windows, make_storage
from backend.asgi import TandemASGI
from backend.auth.noauth import NoAuthAuthenticator
from backend.auth.types import Authenticator
from backend.bus.factory import make_bus
from backend.bus.leases import RedisLeases
from backend.bus.types import Bus
from backend.history.recorder import HistoryRecorder
from backend.history.store import HistoryStore
from backend.ops.heap import settle_heap
from backend.ops.http import HttpOpsMiddleware, request_duration
from backend.ops.metrics import TandemCollector, make_registry
from backend.ops.redisprobe import RedisProbe
from backend.ops.scheduler import BackupScheduler
from backend.rooms.allocator import fix_thresholds
from backend.rooms.manager import RoomManager
from backend.rooms.replication import channel_of
from backend.routes import (
    api_auth,
    api_files,
    api_history,
    api_home,
    api_identity,
    api_links,
    api_sessions,
    auth_pages,
    docs,
    errors,
    health,
    metrics,
    owned,
    pages,
)
from backend.routes import sandbox as sandbox_routes
from backend.screenshare import ScreenShareService
from backend.services import Services
from backend.settings import Settings
from backend.store.database import create_tables, make_engine
from backend.store.sql import SqlDocumentStore
from backend.terminals.availability import sandbox_spec
from backend.terminals.live import TerminalAccess
from backend.terminals.service import TerminalService
from backend.terminals.workspace_syncs import WorkspaceSyncs
from backend.tunnel.service import TunnelLimits, Tunnels
from backend.version import __version__
from sandbox import workspace_mounts

log = logging.getLogger("tandem.app")


def _rooms_and_identity(
    settings: Settings,
    engine: Engine,
    store: SqlDocumentStore,
    tg: anyio.abc.TaskGroup,
    access_listeners: list[AccessListener],
) -> tuple[RoomManager, Authenticator]:
    """`--no-auth`: everyone edits every room, awareness untouched. Otherwise: accounts and share
    links, roles enforced per message, `user` stamped on awareness, access changes polled."""
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
    tg.start_soon(AccessWatcher(engine, rooms, store, settings, access_listeners).run)
    return rooms, AccountAuthenticator(engine)


def _start_operations(app: FastAPI, settings: Settings, engine: Engine, tg: anyio.abc.TaskGroup) -> None:
    """Version history, the metrics collector and scheduled backups (backend.history, backend.ops)."""
    services: Services = app.state.services
    store = HistoryStore(
        engine, settings.history_max_versions_per_session, max_bytes=settings.history_max_bytes_per_session
    )
    history = HistoryRecorder(settings, services.rooms, store)
    services.history = history
    services.rooms.listeners.append(history.listener)
    services.rooms.after_load.append(history.after_load)
    terminals = services.terminals
    if terminals is not None:
        history.terminal_activity = terminals.terminal_activity
    if engine.dialect.name == "sqlite" and settings.room_unload_trim_memory:
        # Idle SQLite connections keep page caches: closed when rooms unload, reopened on demand.
        services.rooms.memory.before_trim.append(engine.pool.dispose)

    async def forget_history(session: str) -> None:
        await anyio.to_thread.run_sync(history.store.delete_session, session)

    services.session_deleted_hooks.append(forget_history)
    tg.start_soon(history.run)
    if app.state.metrics_registry is not None:
        app.state.metrics_registry.register(TandemCollector(services))
    if settings.backup_dir is not None:
        tg.start_soon(BackupScheduler(settings, services.rooms.stats).run)


@asynccontextmanager
async def _tunnels(settings: Settings, bus: Bus, services: Services) -> AsyncIterator[Tunnels]:
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
    channels = services.rooms.stats.channels
    async with leases, Tunnels(bus, leases, owned.endpoints(services), limits, channels) as tunnels:
        yield tunnels


def create_app(settings: Settings, *, settle_heap_when_ready: bool = False) -> TandemASGI:
    """The app; `settle_heap_when_ready` (`tandem serve` only): freeze start-up objects (backend.ops.heap)."""
    # Before any room: once glibc's thresholds have risen, a freed room's memory stays resident.
    fix_thresholds(settings.malloc_mmap_threshold_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url())
        await anyio.to_thread.run_sync(create_tables, engine)
        # Several nodes share the database when they share a Redis (see backend/store/sql.py).
        store = SqlDocumentStore(engine, shared=bool(settings.redis_url))
        async with anyio.create_task_group() as tg, AsyncExitStack() as stack:
            access_listeners: list[AccessListener] = []  # other channels' live re-checks
            # The bus outlives the rooms (entered first, left last): their final presence goes out.
            bus = await stack.enter_async_context(make_bus(settings))
            rooms, authenticator = _rooms_and_identity(settings, engine, store, tg, access_listeners)
            rooms.use_bus(bus)
            # Login, signup and join limits share one storage (Redis when configured: cluster-wide).
            windows = Windows(make_storage(settings), settings.login_rate_limit_entries)
            limiter = LoginRateLimiter(
                windows,
                settings.login_max_attempts,
                settings.login_window_seconds,
                ip_max_attempts=settings.login_ip_max_attempts,
            )
            app.state.services = Services(settings, engine, store, rooms, authenticator, limiter)
            app.state.services.access_listeners = access_listeners
            app.state.services.principal_connections = PrincipalConnections(
                settings.connections_per_principal_per_room, settings.connections_per_principal
            )
            app.state.services.bus = bus

            async def drop_room_channel(session: str) -> None:
                bus.drop(channel_of(session))  # a deleted session leaves no stream in Redis

            app.state.services.session_deleted_hooks.append(drop_room_channel)
            if settings.redis_url:
                probe = RedisProbe(settings.redis_url, settings.readyz_timeout_seconds)
                stack.push_async_callback(probe.aclose)
                app.state.services.redis_probe = probe
            # File sync: a room's workspace is read in when it loads and watched while it is loaded
            # (several nodes: on the session's owner, with its sandbox). Stopped before history's
            # last version of an unloading room, so that version has the final merges.
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
            app.state.services.workspace_syncs = syncs
            # Terminals: Docker sandbox per session, or off with the reason (`GET /api/sandbox`).
            terminals = await stack.enter_async_context(TerminalService.open(settings, rooms, syncs))
            app.state.services.terminals = terminals
            # The sync first: it lets go of the workspace, then the container and the quota image go.
            app.state.services.session_deleted_hooks.append(syncs.forget_session)
            app.state.services.session_deleted_hooks.append(terminals.delete_session)
            terminal_access = TerminalAccess(authenticator.recheck)
            app.state.services.terminal_access = terminal_access
            access_listeners.append(terminal_access.access_changed)
            # Screen share: signaling hub + aiortc relay; re-checked like the other channels.
            screenshare = await stack.enter_async_context(ScreenShareService.open(settings, authenticator))
            app.state.services.screenshare = screenshare
            access_listeners.append(screenshare.access_changed)
            # Several nodes: terminals and screen shares run on each session's owner node.
            tunnels = None
            if settings.redis_url and bus.shared:
                tunnels = await stack.enter_async_context(_tunnels(settings, bus, app.state.services))
                app.state.services.tunnels = tunnels
            tg.start_soon(rooms.run_reaper)
            _start_operations(app, settings, engine, tg)
            log.info("tandem node %s ready on %s:%d", rooms.node_id, settings.host, settings.port)
            if settle_heap_when_ready:
                settle_heap()
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    if tunnels is not None:
                        tunnels.close()  # tunnelled clients hear 1012 before their terminals end
                    with anyio.move_on_after(settings.shutdown_timeout_seconds):
                        await terminals.close()  # its last doc writes land before the rooms flush
                    with anyio.move_on_after(settings.shutdown_timeout_seconds):
                        await rooms.close()
                tg.cancel_scope.cancel()
        store.close()
        log.info("tandem stopped: every room flushed")

    # Docs routes are Tandem's own (backend/routes/docs.py): its assets, no CDN.
    app = FastAPI(title="Tandem", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.metrics_registry = make_registry() if settings.metrics_enabled else None
    registry = app.state.metrics_registry
    app.add_middleware(HttpOpsMiddleware, histogram=request_duration(registry) if registry else None)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    app.include_router(api_history.router)
    app.include_router(api_files.router)
    app.include_router(sandbox_routes.router)
    errors.install(app)
    app.include_router(api_auth.router)
    app.include_router(api_sessions.router)
    app.include_router(api_home.router)
    app.include_router(api_identity.router)
    app.include_router(api_links.router)
    if not settings.no_auth:
        # Before `pages`: its guard of `/s/{session}` must match first.
        app.include_router(auth_pages.router)
    app.include_router(pages.router)
    return TandemASGI(app, settings)
