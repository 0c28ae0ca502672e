"""Principals, roles and the `Authenticator` protocol every channel authenticates through."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from starlette.requests import HTTPConnection


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    COMMENTER = "commenter"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    name: str
    role: Role
    color: str = "#3b82f6"

    @property
    def can_edit(self) -> bool:
        return self.role in (Role.OWNER, Role.EDITOR)


class Authenticator(Protocol):
    async def authenticate(self, connection: HTTPConnection, session: str) -> Principal | None:
        """The principal for `session`, or None when the credentials are missing or wrong."""
        ...
