"""Signups and joins throttled per client IP, before any route runs (429 with Retry-After).

Both create identities without a password check to slow them down: unthrottled, one address
could mint accounts or guests as fast as the database takes them. One middleware covers the
API and the form routes alike (`/api/auth/signup`, `/signup`, `/api/join/{token}`,
`/join/{token}`); each POST counts, whatever its outcome.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from backend.access.ratelimit import Rule, SlidingWindows
from backend.errors import RateLimitedError
from backend.settings import Settings

log = logging.getLogger("tandem.access")


class ThrottleMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.windows = SlidingWindows(settings.login_rate_limit_entries)
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
                self.windows.hit([rule])
            except RateLimitedError as exc:
                log.warning("throttled POST %s from %s: %s", scope["path"], ip, exc)
                await _too_many(send, exc)
                return
        await self.app(scope, receive, send)


async def _too_many(send: Send, exc: RateLimitedError) -> None:
    body = json.dumps({"detail": str(exc)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(max(1, int(exc.retry_after))).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
