"""Principals, roles and the `Authenticator` protocol every channel authenticates through."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from starlette.requests import HTTPConnection

# An ASGI scope key: the principal a connection was already authenticated as (by the router on
# this node, or by the entry node of a tunnel). Set only by Tandem's own code, never from a request.
SCOPE_PRINCIPAL = "tandem.principal"


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    COMMENTER = "commenter"
    VIEWER = "viewer"


class PrincipalKind(StrEnum):
    ANONYMOUS = "anonymous"  # --no-auth
    USER = "user"  # a logged-in account (owner or member of the session)
    GUEST = "guest"  # a display name given on /join/{token}, valid for one session
    LINK = "link"  # a bare `?token=` bearer (scripts)


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    name: str
    role: Role
    color: str = "#3b82f6"
    # The session this role holds for (None: every room, --no-auth only).
    session: str | None = None
    kind: PrincipalKind = PrincipalKind.ANONYMOUS
    # What to look up again when the session's access changes: user, guest or link id.
    ref: str = ""

    @property
    def can_edit(self) -> bool:
        return self.role in (Role.OWNER, Role.EDITOR)


class Authenticator(Protocol):
    async def authenticate(self, connection: HTTPConnection, session: str) -> Principal | None:
        """The principal for `session`, or None when the credentials are missing or wrong.

        May raise `CredentialsMissingError`, `AuthenticationError`, `AccessDeniedError` or
        `SessionNotFoundError` (backend.errors) to say which.
        """
        ...

    async def recheck(self, principal: Principal) -> Principal:
        """The principal as it stands now (a new role), for a channel whose session's access changed;
        raises `AccessDeniedError` / `SessionNotFoundError` once its access is gone."""
        ...

    async def joined(self, principal: Principal, session: str) -> None:
        """A connection of `principal` entered the session's room (the audit log hears of it)."""
        ...

    async def left(self, principal: Principal, session: str) -> None: ...
