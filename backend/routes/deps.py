"""Dependencies of the HTTP routes: each route asks for the node's parts it uses (`SettingsDep`,
`RoomsDep`...), never the whole node; a database session, the caller, CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy import Engine
from sqlmodel import Session

from backend.access import csrf
from backend.access.accounts import account_for_login
from backend.access.identity import LOGIN_COOKIE, credentials_of, resolve
from backend.access.models import Account
from backend.access.ratelimit import LoginRateLimiter
from backend.auth.types import Authenticator, Principal
from backend.history.recorder import HistoryRecorder
from backend.lifecycle import SessionLifecycle
from backend.node import Node
from backend.ops.readiness import Targets
from backend.rooms.manager import RoomManager
from backend.settings import Settings
from backend.terminals.service import TerminalService


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node  # opened by the lifespan (backend.app)
    return node


def get_settings(request: Request) -> Settings:
    return node_of(request).settings


def get_engine(request: Request) -> Engine:
    return node_of(request).engine


def get_rooms(request: Request) -> RoomManager:
    return node_of(request).rooms


def get_authenticator(request: Request) -> Authenticator:
    return node_of(request).authenticator


def get_login_limiter(request: Request) -> LoginRateLimiter:
    return node_of(request).login_limiter


def get_history(request: Request) -> HistoryRecorder:
    return node_of(request).history


def get_terminals(request: Request) -> TerminalService:
    return node_of(request).terminals


def get_lifecycle(request: Request) -> SessionLifecycle:
    return node_of(request).lifecycle


def get_readiness(request: Request) -> Targets:
    return node_of(request).readiness()


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
RoomsDep = Annotated[RoomManager, Depends(get_rooms)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
LoginLimiterDep = Annotated[LoginRateLimiter, Depends(get_login_limiter)]
HistoryDep = Annotated[HistoryRecorder, Depends(get_history)]
TerminalsDep = Annotated[TerminalService, Depends(get_terminals)]
LifecycleDep = Annotated[SessionLifecycle, Depends(get_lifecycle)]
ReadinessDep = Annotated[Targets, Depends(get_readiness)]


def get_db(engine: EngineDep) -> Iterator[Session]:
    with Session(engine) as db:
        yield db


DbDep = Annotated[Session, Depends(get_db)]


def optional_account(request: Request, db: DbDep) -> Account | None:
    return account_for_login(db, request.cookies.get(LOGIN_COOKIE))


OptionalAccountDep = Annotated[Account | None, Depends(optional_account)]


def current_account(account: OptionalAccountDep) -> Account:
    if account is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
    return account


AccountDep = Annotated[Account, Depends(current_account)]


def session_principal(request: Request, db: DbDep, session_id: str) -> Principal:
    """The caller in the session of the path: login cookie, guest cookie or `?token=`."""
    return resolve(db, credentials_of(request, session_id), session_id)


PrincipalDep = Annotated[Principal, Depends(session_principal)]


def check_csrf(
    request: Request, x_csrf_token: Annotated[str | None, Header(include_in_schema=False)] = None
) -> None:
    """JSON API: unsafe methods must echo the `tandem_csrf` cookie in `X-CSRF-Token`."""
    if not csrf.valid(request, x_csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-CSRF-Token (GET /api/auth/csrf)")


CsrfDep = Depends(check_csrf)


def cookie_secure(s: Settings) -> bool:
    if s.cookie_secure is not None:
        return s.cookie_secure
    return bool(s.public_url and s.public_url.startswith("https://"))


def public_base(request: Request, settings: Settings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")
