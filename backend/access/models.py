"""SQLModel tables of accounts, sessions, share links and the audit log, beside their API schemas.

Secrets (login tokens, share-link tokens, guest tokens) are stored only as SHA-256 hex digests:
a leaked database grants nothing. Passwords are argon2id hashes and never leave `Account`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Field, SQLModel

from backend.auth.types import Role
from backend.store.models import utcnow


def aware(dt: datetime) -> datetime:
    """SQLite hands datetimes back naive (they are stored as UTC): make them comparable to `utcnow()`."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


# -- accounts ----------------------------------------------------------------------------------


class Account(SQLModel, table=True):
    __tablename__ = "account"

    id: str = Field(primary_key=True, max_length=32)
    username: str = Field(index=True, unique=True, max_length=64)
    password_hash: str = Field(max_length=256)
    is_admin: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class AccountNameKey(SQLModel, table=True):
    """An account's folded username (backend.access.names.fold): unique, so `Alice` and `aIice`
    cannot both exist even when signed up at the same moment on two nodes."""

    __tablename__ = "account_name_key"

    key: str = Field(primary_key=True, max_length=256)
    account_id: str = Field(index=True, max_length=32)


class AccountCreate(SQLModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class AccountPublic(SQLModel):
    id: str
    username: str
    is_admin: bool
    created_at: datetime


class LoginToken(SQLModel, table=True):
    """One logged-in browser: the cookie holds the token, the table its hash (logout deletes it)."""

    __tablename__ = "login_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(index=True, foreign_key="account.id", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


# -- sessions ----------------------------------------------------------------------------------


class CodingSession(SQLModel, table=True):
    """A session: the persisted room. Its id is its room name (`/yjs/{id}`)."""

    __tablename__ = "session"

    id: str = Field(primary_key=True, max_length=32)
    title: str = Field(max_length=200)
    owner_id: str = Field(index=True, foreign_key="account.id", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SessionCreate(SQLModel):
    title: str = Field(min_length=1, max_length=200)


class SessionUpdate(SQLModel):
    title: str = Field(min_length=1, max_length=200)


class SessionPublic(SQLModel):
    id: str
    title: str
    owner: str  # the owner's username
    role: Role  # the caller's role in it
    created_at: datetime
    updated_at: datetime
    # Filled by the home list (`backend.access.home`): who is in the live room now, the last
    # join, leave or change, and whether the caller holds it as a link guest (no account).
    online: list[str] = Field(default_factory=list)
    last_activity: datetime | None = None
    guest: bool = False


class Member(SQLModel, table=True):
    """An account's role in a session it does not own (joined through a link, or granted)."""

    __tablename__ = "session_member"

    session_id: str = Field(primary_key=True, foreign_key="session.id", max_length=32)
    account_id: str = Field(primary_key=True, index=True, foreign_key="account.id", max_length=32)
    role: Role = Field(max_length=16)
    # The link that granted it: revoking the link removes this membership too. None once the
    # owner sets the role explicitly.
    link_id: str | None = Field(default=None, index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class MemberUpdate(SQLModel):
    role: Role


class ParticipantPublic(SQLModel):
    """A member (account) or a guest of a session, as its owner sees them."""

    id: str
    kind: str  # "member" | "guest"
    name: str
    role: Role
    link_id: str | None
    created_at: datetime


# -- share links -------------------------------------------------------------------------------


class ShareLink(SQLModel, table=True):
    __tablename__ = "share_link"

    id: str = Field(primary_key=True, max_length=32)
    session_id: str = Field(index=True, foreign_key="session.id", max_length=32)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    role: Role = Field(max_length=16)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = Field(default=None, index=True)  # polled (backend.access.live)
    max_uses: int | None = None
    uses: int = 0
    revoked_at: datetime | None = None


class ShareLinkCreate(SQLModel):
    role: Role
    expires_in_seconds: float | None = Field(default=None, gt=0)
    max_uses: int | None = Field(default=None, ge=1)


class ShareLinkPublic(SQLModel):
    id: str
    session_id: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked_at: datetime | None


class ShareLinkCreated(ShareLinkPublic):
    """Returned once, on creation: the token is not stored and cannot be shown again."""

    token: str
    url: str


class Guest(SQLModel, table=True):
    """A display name admitted through a link: an identity for one session only (a cookie)."""

    __tablename__ = "guest"

    id: str = Field(primary_key=True, max_length=32)
    session_id: str = Field(index=True, foreign_key="session.id", max_length=32)
    link_id: str | None = Field(default=None, index=True, max_length=32)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=64)
    role: Role = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)  # polled (backend.access.live)


class JoinRequest(SQLModel):
    name: str = Field(min_length=1, max_length=64)


class JoinResult(SQLModel):
    session_id: str
    role: Role
    name: str
    room_url: str


# -- live changes and audit --------------------------------------------------------------------


class AccessChange(SQLModel, table=True):
    """Append-only: one row per change of who may do what in a session. Every node polls
    `id > last seen` (a primary-key range scan) and re-checks open connections of that session."""

    __tablename__ = "access_change"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True, max_length=32)
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=32)  # join, leave, link_create, link_use, link_revoke, role_change, ...
    actor_id: str = Field(default="", max_length=64)
    actor_name: str = Field(default="", max_length=64)
    detail: str = Field(default="", max_length=1000)


class AuditEventPublic(SQLModel):
    id: int
    session_id: str
    at: datetime
    kind: str
    actor_id: str
    actor_name: str
    detail: str


# -- colours -----------------------------------------------------------------------------------


class ParticipantColor(SQLModel, table=True):
    """The colour a person has in one session: allocated once (the least-used palette colour when
    they first arrive), or picked by them (`chosen`), so the same person is the same colour on
    every channel and after reconnects, and people in one session differ."""

    __tablename__ = "participant_color"

    session_id: str = Field(primary_key=True, max_length=32)
    principal_id: str = Field(primary_key=True, index=True, max_length=64)
    color: str = Field(max_length=7)
    chosen: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class ColorUpdate(SQLModel):
    color: str = Field(max_length=7)  # "#rrggbb" (checked by the route)


class IdentityPublic(SQLModel):
    """Who the caller is in a session, as everyone there sees them."""

    id: str
    name: str
    color: str
    role: Role
    palette: list[str]
