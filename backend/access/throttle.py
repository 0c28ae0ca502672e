"""Signups and joins throttled per client IP, before any route runs (429 with Retry-After).

Both create identities without a password check to slow them down: unthrottled, one address
could mint accounts or guests as fast as the database takes them. One middleware covers the
API and the form routes alike (`/api/auth/signup`, `/signup`, `/api/join/{token}`,
`/join/{token}`); each POST counts, whatever its outcome. The counts live in the same storage as
the login limits (backend.access.ratelimit): Redis when configured, so they hold across nodes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from backend.access.ratelimit import Rule, Windows
from backend.errors import RateLimitedError, RateLimitUnavailableError
from backend.settings import Settings

log = logging.getLogger("tandem.access")


class ThrottleMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, windows: Callable[[], Windows]) -> None:
        self.app = app
        self.windows = windows  # built in the app's lifespan, after this middleware
        signup = (settings.signup_max_per_ip, settings.signup_window_seconds, "signups from your address")
        join = (settings.join_max_per_ip, settings.join_window_seconds, "joins from your address")
        # (exact path or prefix ending in "/", kind, limit, window, what)
        self.routes = [
            ("/api/auth/signup", "signup", *signup),
            ("/signup", "signup", *signup),
            ("/api/join/", "join", *join),
            ("/join/", "join", *join),
        ]

    def _rule(self, path: str, ip: str) -> Rule | None:
        for route, kind, limit, window, what in self.routes:
            if path == route or (route.endswith("/") and path.startswith(route)):
                return Rule(f"{kind}:{ip}", limit, window, what)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "?"
        rule = self._rule(scope["path"], ip)
        if rule is not None:
            try:
                await self.windows().hit([rule])
            except RateLimitedError as exc:
                log.warning("throttled POST %s from %s: %s", scope["path"], ip, exc)
                await _refuse(send, 429, str(exc), exc.retry_after)
                return
            except RateLimitUnavailableError as exc:
                log.error("refused POST %s from %s: %s", scope["path"], ip, exc)
                await _refuse(send, 503, str(exc), 5.0)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str, retry_after: float) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(max(1, int(retry_after))).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
