"""`--no-auth`: anyone may edit any room (local development and protocol tests)."""

from __future__ import annotations

import itertools

from starlette.requests import HTTPConnection

from backend.auth.types import Principal, Role

_COLORS = ["#ef4444", "#f59e0b", "#10b981", "#3b82f6", "#8b5cf6", "#ec4899", "#14b8a6"]


class NoAuthAuthenticator:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    async def authenticate(self, connection: HTTPConnection, session: str) -> Principal:
        n = next(self._counter)
        return Principal(id=f"anon-{n}", name=f"Guest {n}", role=Role.EDITOR, color=_COLORS[n % len(_COLORS)])

    async def joined(self, principal: Principal, session: str) -> None:
        pass  # no audit log without accounts

    async def left(self, principal: Principal, session: str) -> None:
        pass

    async def recheck(self, principal: Principal) -> Principal:
        return principal  # nothing ever changes without accounts
