"""How `tandem serve` runs uvicorn: guarded protocols, header and keep-alive timeouts, the
connection budget from the file descriptor limit, and which proxies are believed."""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from uvicorn.config import WS_PROTOCOLS
from uvicorn.importer import import_from_string

from backend._compat.uvicorn_protocols import guarded_protocols
from backend.edge.connections import ConnectionGuard
from backend.edge.leanws import Keepalive
from backend.settings import Settings

log = logging.getLogger("tandem.http")

FD_CEILING = 1 << 20  # when the hard limit is "unlimited"
# Detached `/yjs` sockets (backend.edge.leanws): uvicorn's own ping interval and timeout.
KEEPALIVE_SECONDS = 20.0


def raise_fd_limit() -> int:
    """Lift the soft file descriptor limit to the hard one (a server wants them all); the result."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the file descriptor limit from %d to %d: %s", soft, target, exc)
    return FD_CEILING if soft == resource.RLIM_INFINITY else soft


def connection_budget(settings: Settings, fd_limit: int) -> int:
    """Connections this node accepts: the fd limit less the reserve (for the database, Docker,
    Redis, files and the health checks' own sockets), or `max_connections` if lower."""
    budget = max(16, fd_limit - settings.connection_fd_reserve)
    if settings.max_connections is not None:
        if settings.max_connections > budget:
            log.warning(
                "max_connections=%d is over the file descriptor budget: using %d",
                settings.max_connections,
                budget,
            )
        budget = min(budget, settings.max_connections)
    return budget


def uvicorn_options(settings: Settings) -> tuple[ConnectionGuard, dict[str, Any]]:
    """The guard and the keyword arguments for `uvicorn.run` / `uvicorn.Config`."""
    fd_limit = raise_fd_limit()
    budget = connection_budget(settings, fd_limit)
    guard = ConnectionGuard(settings.connections_per_ip, budget, exempt=settings.trusted_proxies)
    ws_impl = WS_PROTOCOLS[settings.ws_impl]
    assert ws_impl is not None
    ws_class: type[asyncio.Protocol] = import_from_string(ws_impl)
    http, ws = guarded_protocols(
        guard,
        ws_class,
        settings.http_header_timeout_seconds,
        settings.http_max_header_bytes,
        Keepalive(KEEPALIVE_SECONDS) if settings.yjs_lean_sockets else None,
    )
    log.info(
        "connections: %d per node (fd limit %d), %d per IP; header timeout %.1fs",
        budget,
        fd_limit,
        settings.connections_per_ip,
        settings.http_header_timeout_seconds,
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": http,
        "ws": ws,
        "ws_max_size": settings.max_frame_bytes,
        "ws_per_message_deflate": False,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "backlog": 2048,
    }
    # X-Forwarded-For is believed from the configured proxies only. uvicorn's default believes
    # loopback, which would let any local client pick its address for the login limits.
    options["proxy_headers"] = bool(settings.trusted_proxies)
    if settings.trusted_proxies:
        options["forwarded_allow_ips"] = settings.trusted_proxies
    return guard, options
