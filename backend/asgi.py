"""The ASGI entry: the y-websocket endpoint in front, everything else through FastAPI.

`/yjs/` is the hot path (one send per client per update): served as plain ASGI it skips
Starlette's per-send exception wrapper, and each send reaches uvicorn directly.

In front of all of it (backend.edge): the allowed-Host check (DNS rebinding) for every request
and WebSocket, then the body cap for HTTP, then the signup and join throttle
(backend.access.throttle).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from backend.access.connlimit import SCOPE_LEASE
from backend.access.ratelimit import Windows
from backend.access.throttle import ThrottleMiddleware
from backend.edge.bodylimit import BodyLimitMiddleware
from backend.edge.hosts import AllowedHosts, HostGuardMiddleware
from backend.node import Node
from backend.ops import logcontext
from backend.routes.signal import is_signal
from backend.routes.term import is_term
from backend.routes.yjs import is_yjs, yjs_asgi
from backend.settings import Settings


class TandemASGI:
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        limited = BodyLimitMiddleware(
            ThrottleMiddleware(self._route, settings, self._limit_windows),
            settings.http_max_body_bytes,
            settings.http_body_limits,
            settings.http_body_timeout_seconds,
        )
        self._entry = HostGuardMiddleware(limited, AllowedHosts(settings))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    @property
    def _node(self) -> Node:
        node: Node = self.app.state.node  # opened by the lifespan (backend.app)
        return node

    def _limit_windows(self) -> Windows:
        """The limits' storage, built in the lifespan with the login limiter (one per node)."""
        return self._node.login_limiter.windows

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self._dispatch(scope, receive, send)
            return
        # Once per connection: its log lines carry a request id.
        logcontext.request_id.set(logcontext.new_request_id(scope.get("headers")))
        try:
            await self._dispatch(scope, receive, send)
        finally:
            # The principal's connection share (taken in backend.routes.ws_auth) comes back.
            lease = scope.get(SCOPE_LEASE)
            if lease is not None:
                self._node.connections.release(lease)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_yjs(scope):
            await yjs_asgi(self._node.sockets, scope, receive, send)
        elif is_term(scope):  # `/term/`: served the same way, on the session's owner node
            await self._node.owners.serve("term", scope, receive, send)
        elif is_signal(scope):  # `/signal/`: screen-share signaling, the same way
            await self._node.owners.serve("signal", scope, receive, send)
        else:
            await self.app(scope, receive, send)
