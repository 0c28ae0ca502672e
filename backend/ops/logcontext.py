"""Who and what a log line is about: request id, session and principal, as context variables.

Set once per HTTP request or WebSocket (never per message); the JSON formatter adds them to
every line logged while handling it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar
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


def carried(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` running with this task's log context (request id, session, principal) whenever it is
    called: for callbacks that outlive the task (a detached `/yjs` socket's handlers). Sets and
    resets the variables around each call, so a nested call (a handler that closes its socket)
    is fine, which `Context.run` would refuse."""
    values = (request_id.get(), session.get(), principal.get())

    def run(*args: Any) -> T:
        tokens = (request_id.set(values[0]), session.set(values[1]), principal.set(values[2]))
        try:
            return fn(*args)
        finally:
            principal.reset(tokens[2])
            session.reset(tokens[1])
            request_id.reset(tokens[0])

    return run
