"""An ASGI middleware for HTTP: a request id for the logs, and request duration by route.

The route label is the matched route's template (`/api/sessions/{session_id}`), never the raw path,
so label cardinality stays bounded whatever clients request.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.ops import logcontext

log = logging.getLogger("tandem.http")

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def request_duration(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "tandem_http_request_duration_seconds",
        "HTTP request duration by route template",
        ["method", "route", "status"],
        registry=registry,
        buckets=BUCKETS,
    )


class HttpOpsMiddleware:
    def __init__(self, app: ASGIApp, histogram: Histogram | None = None) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = logcontext.new_request_id(scope.get("headers"))
        logcontext.request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.histogram is not None:
                route = scope.get("route")
                template = getattr(route, "path", None) or "<unmatched>"
                self.histogram.labels(scope.get("method", ""), template, str(status)).observe(
                    time.perf_counter() - started
                )
