"""Who and what a log line is about: request id, session and principal, as context variables.

Set once per HTTP request or WebSocket (never per message); the JSON formatter adds them to
every line logged while handling it.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar, Token
from typing import Any, TypeVar

request_id: ContextVar[str | None] = ContextVar("tandem_request_id", default=None)
session: ContextVar[str | None] = ContextVar("tandem_session", default=None)
principal: ContextVar[str | None] = ContextVar("tandem_principal", default=None)

T = TypeVar("T")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id(headers: list[tuple[bytes, bytes]] | None = None) -> str:
    """The caller's `X-Request-ID` when it is a sane token (a proxy set it), else a fresh one."""
    for key, value in headers or ():
        if key == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SAFE_ID.match(candidate):
                return candidate
    return secrets.token_hex(8)


def bind_principal(who: Any, room: str | None = None) -> None:
    """Name the principal (id and display name, never a credential) for this task's log lines."""
    if room is not None:
        session.set(room)
    if who is None:
        principal.set(None)
        return
    ident, name = getattr(who, "id", None), getattr(who, "name", None)
    principal.set(f"{ident}:{name}" if ident else str(name or who))


def current() -> dict[str, str]:
    out: dict[str, str] = {}
    for key, var in (("request_id", request_id), ("session", session), ("principal", principal)):
        value = var.get()
        if value is not None:
            out[key] = value
    return out


Carried = tuple[str | None, str | None, str | None]


def capture() -> Carried:
    """This task's log context, for `enter`: a callback that outlives the task keeps the tuple
    (one tuple per connection, not a closure per callback)."""
    return (request_id.get(), session.get(), principal.get())


Tokens = tuple[Token[str | None], Token[str | None], Token[str | None]]


def enter(values: Carried) -> Tokens:
    """Set a captured log context; `leave` with the tokens in a `finally` (nesting is fine). Two
    plain calls, not a context manager: this runs once per message of a detached socket."""
    return (request_id.set(values[0]), session.set(values[1]), principal.set(values[2]))


def leave(tokens: Tokens) -> None:
    principal.reset(tokens[2])
    session.reset(tokens[1])
    request_id.reset(tokens[0])
