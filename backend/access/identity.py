"""Who a connection is in a session: credentials in, a `Principal` (with its role) out.

Credentials, in order of precedence: a share-link token in `?token=` (scripts), the login cookie
(when that account has a role in the session), the session's guest cookie. The same resolution
serves pages, the REST API and every WebSocket; `recheck` repeats it for an open connection when
the session's access changes.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import anyio
from sqlalchemy import Engine
from sqlmodel import Session, select
from starlette.requests import HTTPConnection

from backend.access import audit
from backend.access.accounts import account_for_login
from backend.access.colors import color_in_session
from backend.access.links import check_guest_name, find_link, link_problem
from backend.access.models import Account, Guest, ShareLink, aware
from backend.access.sessions import get_session, member_role
from backend.access.tokens import hash_token
from backend.auth.types import Principal, PrincipalKind, Role
from backend.errors import AccessDeniedError, AuthenticationError, CredentialsMissingError
from backend.store.models import utcnow

log = logging.getLogger("tandem.access")

LOGIN_COOKIE = "tandem_login"
GUEST_COOKIE_PREFIX = "tandem_guest_"  # + session id: a guest identity holds for one session only


def guest_cookie(session_id: str) -> str:
    return GUEST_COOKIE_PREFIX + session_id


@dataclass(frozen=True, slots=True)
class Credentials:
    link_token: str | None = None
    login_token: str | None = None
    guest_token: str | None = None
    display_name: str | None = None  # `?name=` for a `?token=` client

    @property
    def empty(self) -> bool:
        return not (self.link_token or self.login_token or self.guest_token)


def credentials_of(connection: HTTPConnection, session_id: str) -> Credentials:
    params = connection.query_params
    return Credentials(
        link_token=params.get("token") or None,
        login_token=connection.cookies.get(LOGIN_COOKIE) or None,
        guest_token=connection.cookies.get(guest_cookie(session_id)) or None,
        display_name=params.get("name") or None,
    )


def _user(db: Session, account: Account, session_id: str, role: Role) -> Principal:
    return Principal(
        id=account.id,
        name=account.username,
        role=role,
        color=color_in_session(db, session_id, account.id),
        session=session_id,
        kind=PrincipalKind.USER,
        ref=account.id,
    )


def _guest(db: Session, guest: Guest) -> Principal:
    pid = f"guest-{guest.id}"
    return Principal(
        id=pid,
        name=guest.name,
        role=guest.role,
        color=color_in_session(db, guest.session_id, pid),
        session=guest.session_id,
        kind=PrincipalKind.GUEST,
        ref=guest.id,
    )


def _link(db: Session, link: ShareLink, name: str | None) -> Principal:
    # Every `?token=` connection is its own participant in presence.
    pid = f"link-{link.id}-{secrets.token_hex(3)}"
    clean = " ".join((name or "").split())[:40] or "Guest"
    return Principal(
        id=pid,
        name=clean,
        role=link.role,
        # Not stored: every `?token=` connection is a new id (scripts, mostly).
        color=color_in_session(db, link.session_id, pid, remember=False),
        session=link.session_id,
        kind=PrincipalKind.LINK,
        ref=link.id,
    )


def _live_guest(db: Session, guest: Guest | None, session_id: str) -> Guest | None:
    if guest is None or guest.session_id != session_id or aware(guest.expires_at) <= utcnow():
        return None
    if guest.link_id is not None:
        link = db.get(ShareLink, guest.link_id)
        if link is None or link.revoked_at is not None:
            return None
    return guest


def resolve(db: Session, creds: Credentials, session_id: str) -> Principal:
    """Raises CredentialsMissingError, SessionNotFoundError, AuthenticationError, AccessDeniedError."""
    if creds.empty:
        raise CredentialsMissingError("no credentials")
    session = get_session(db, session_id)
    if creds.link_token:
        link = find_link(db, creds.link_token)
        if link.session_id != session.id:
            raise AccessDeniedError("this link is for another session")
        if creds.display_name:
            check_guest_name(db, session.id, " ".join(creds.display_name.split())[:40])
        return _link(db, link, creds.display_name)
    account = account_for_login(db, creds.login_token)
    if account is not None:
        role = member_role(db, account.id, session)
        if role is not None:
            return _user(db, account, session.id, role)
    if creds.guest_token:
        guest = db.exec(select(Guest).where(Guest.token_hash == hash_token(creds.guest_token))).first()
        live = _live_guest(db, guest, session.id)
        if live is not None:
            return _guest(db, live)
        if account is None:
            raise AuthenticationError("this guest pass is no longer valid")
    if account is None:
        raise AuthenticationError("login expired: log in again")
    raise AccessDeniedError("you have no access to this session")


def recheck(db: Session, principal: Principal) -> Principal:
    """The principal's current self in its session; raises AccessDeniedError once access is gone
    (or SessionNotFoundError once the session is)."""
    assert principal.session is not None
    session = get_session(db, principal.session)
    if principal.kind == PrincipalKind.USER:
        account = db.get(Account, principal.ref)
        role = member_role(db, principal.ref, session) if account is not None else None
        if account is None or role is None:
            raise AccessDeniedError("your access to this session was removed")
        fresh = _user(db, account, session.id, role)  # a new role or a colour picked since
        return principal if fresh == principal else fresh
    if principal.kind == PrincipalKind.GUEST:
        guest = _live_guest(db, db.get(Guest, principal.ref), session.id)
        if guest is None:
            raise AccessDeniedError("you were removed from this session")
        fresh = _guest(db, guest)
        return principal if fresh == principal else fresh
    if principal.kind == PrincipalKind.LINK:
        link = db.get(ShareLink, principal.ref)
        if link is None:
            raise AccessDeniedError("this link was revoked")
        problem = link_problem(link)  # revoked, expired or used up: a `?token=` connection ends
        if problem is not None:
            raise AccessDeniedError(problem)
        return principal
    return principal


class AccountAuthenticator:
    """The Identity seam for normal mode: login cookie, guest cookie, or share-link token."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def resolve(self, creds: Credentials, session_id: str) -> Principal:
        with Session(self.engine) as db:
            return resolve(db, creds, session_id)

    async def authenticate(self, connection: HTTPConnection, session: str) -> Principal:
        creds = credentials_of(connection, session)
        if creds.empty:
            raise CredentialsMissingError("no credentials")  # no database round trip for junk
        return await anyio.to_thread.run_sync(self.resolve, creds, session)

    def _recheck(self, principal: Principal) -> Principal:
        with Session(self.engine) as db:
            return recheck(db, principal)

    async def recheck(self, principal: Principal) -> Principal:
        """The principal's current self; raises AccessDeniedError / SessionNotFoundError once gone."""
        return await anyio.to_thread.run_sync(self._recheck, principal)

    def _audit(self, principal: Principal, session: str, kind: str) -> None:
        with Session(self.engine) as db:
            audit.record(db, session, kind, principal, role=principal.role)
            db.commit()

    async def joined(self, principal: Principal, session: str) -> None:
        await self._safe_audit(principal, session, "join")

    async def left(self, principal: Principal, session: str) -> None:
        await self._safe_audit(principal, session, "leave")

    async def _safe_audit(self, principal: Principal, session: str, kind: str) -> None:
        try:
            await anyio.to_thread.run_sync(self._audit, principal, session, kind)
        except Exception:  # the connection goes on; the gap in the log is logged
            log.exception("audit %s of %s in session %s failed", kind, principal.id, session)
