"""The composition root: `create_app(settings)`; the lifespan opens the node (backend.node)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from backend.asgi import TandemASGI
from backend.node import Node
from backend.ops.heap import settle_heap
from backend.ops.http import HttpOpsMiddleware, request_duration
from backend.ops.metrics import TandemCollector, make_registry
from backend.rooms.allocator import fix_thresholds
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
    pages,
)
from backend.routes import sandbox as sandbox_routes
from backend.settings import Settings
from backend.version import __version__

log = logging.getLogger("tandem.app")


def create_app(settings: Settings, *, settle_heap_when_ready: bool = False) -> TandemASGI:
    """The app; `settle_heap_when_ready` (`tandem serve` only): freeze start-up objects (backend.ops.heap)."""
    # Before any room: once glibc's thresholds have risen, a freed room's memory stays resident.
    fix_thresholds(settings.malloc_mmap_threshold_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Node.open(settings) as node:
            app.state.node = node
            registry = app.state.metrics_registry
            if registry is not None:  # the parts it reads, never the node
                registry.register(
                    TandemCollector(node.rooms, node.bus, node.owners, node.screenshare, node.terminals)
                )
            if settle_heap_when_ready:
                settle_heap()
            yield

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
