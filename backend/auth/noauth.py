"""`--no-auth`: anyone may edit any room (local development and protocol tests).

Without accounts the client names itself, as it does in its awareness state: `?name=` and
`?color=` (#rrggbb) label its terminal input, and `?view=1` makes it a viewer (a page opened
read-only never types into a terminal, and the server holds it to that).
"""

from __future__ import annotations

import itertools
import re

from starlette.requests import HTTPConnection

from backend.auth.types import Principal, Role

_COLORS = ["#ef4444", "#f59e0b", "#10b981", "#3b82f6", "#8b5cf6", "#ec4899", "#14b8a6"]
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class NoAuthAuthenticator:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    async def authenticate(self, connection: HTTPConnection, session: str) -> Principal:
        n = next(self._counter)
        params = connection.query_params
        name = " ".join((params.get("name") or "").split())[:40] or f"Guest {n}"
        color = params.get("color") or ""
        return Principal(
            id=f"anon-{n}",
            name=name,
            role=Role.VIEWER if params.get("view") == "1" else Role.EDITOR,
            color=color if _COLOR.match(color) else _COLORS[n % len(_COLORS)],
        )

    async def joined(self, principal: Principal, session: str) -> None:
        pass  # no audit log without accounts

    async def left(self, principal: Principal, session: str) -> None:
        pass

    async def recheck(self, principal: Principal) -> Principal:
        return principal  # nothing ever changes without accounts
