"""The composition root: `create_app(settings)` builds every service inside the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from backend.asgi import TandemASGI
from backend.auth.noauth import NoAuthAuthenticator
from backend.auth.types import Authenticator
from backend.rooms.manager import RoomManager
from backend.routes import health
from backend.services import Services
from backend.settings import Settings
from backend.store.database import create_tables, make_engine
from backend.store.sql import SqlDocumentStore

log = logging.getLogger("tandem.app")


def _authenticator(settings: Settings) -> Authenticator:
    if settings.no_auth:
        return NoAuthAuthenticator()
    raise SystemExit("accounts and share links are not built yet: run `tandem serve --no-auth` for now")


def create_app(settings: Settings) -> TandemASGI:
    authenticator = _authenticator(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url())
        await anyio.to_thread.run_sync(create_tables, engine)
        store = SqlDocumentStore(engine)
        async with anyio.create_task_group() as tg:
            rooms = RoomManager(settings, store, tg)
            app.state.services = Services(settings, engine, store, rooms, authenticator)
            tg.start_soon(rooms.run_reaper)
            log.info("tandem node %s ready on %s:%d", rooms.node_id, settings.host, settings.port)
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    with anyio.move_on_after(settings.shutdown_timeout_seconds):
                        await rooms.close()
                tg.cancel_scope.cancel()
        store.close()
        log.info("tandem stopped: every room flushed")

    app = FastAPI(title="Tandem", lifespan=lifespan)
    app.include_router(health.router)
    try:
        from backend.routes import pages
    except ImportError:
        pages = None  # type: ignore[assignment]
    if pages is not None:
        app.include_router(pages.router)
    return TandemASGI(app)
