"""Sessions and who is in them: create, list, rename, delete; members' and guests' roles.

Every function that changes who may do what in a session also appends an `AccessChange` row in
the same transaction, so every node (and a server the CLI runs beside) re-checks open connections.
"""

from __future__ import annotations

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.models import (
    AccessChange,
    Account,
    AuditEvent,
    CodingSession,
    Guest,
    Member,
    ParticipantPublic,
    SessionPublic,
    ShareLink,
)
from backend.access.tokens import new_id
from backend.auth.types import Principal, Role
from backend.errors import InvalidInputError, SessionNotFoundError
from backend.settings import Settings
from backend.store.models import utcnow


def record_change(db: Session, session_id: str) -> None:
    db.add(AccessChange(session_id=session_id))


def get_session(db: Session, session_id: str) -> CodingSession:
    session = db.get(CodingSession, session_id)
    if session is None:
        raise SessionNotFoundError(f"no session {session_id!r}")
    return session


def _title(title: str, settings: Settings) -> str:
    title = " ".join(title.split())
    if not title or len(title) > settings.session_title_max_length:
        raise InvalidInputError(f"title: 1 to {settings.session_title_max_length} characters")
    return title


def create_session(db: Session, owner: Account, title: str, settings: Settings) -> CodingSession:
    owned = db.exec(select(func.count()).where(CodingSession.owner_id == owner.id)).one()
    if owned >= settings.max_sessions_per_user:
        raise InvalidInputError(f"at most {settings.max_sessions_per_user} sessions per account")
    session = CodingSession(id=new_id(), title=_title(title, settings), owner_id=owner.id)
    db.add(session)
    audit.record(db, session.id, "session_create", actor_id=owner.id, actor_name=owner.username)
    db.commit()
    db.refresh(session)
    return session


def member_role(db: Session, account_id: str, session: CodingSession) -> Role | None:
    """The account's role in the session: owner, a membership whose link is still live, or None."""
    if session.owner_id == account_id:
        return Role.OWNER
    member = db.get(Member, (session.id, account_id))
    if member is None:
        return None
    if member.link_id is not None:
        link = db.get(ShareLink, member.link_id)
        if link is None or link.revoked_at is not None:
            return None
    return member.role


def to_public(db: Session, session: CodingSession, role: Role) -> SessionPublic:
    owner = db.get(Account, session.owner_id)
    return SessionPublic(
        id=session.id,
        title=session.title,
        owner=owner.username if owner else "?",
        role=role,
        created_at=session.created_at,
        updated_at=session.updated_at,
    )


def list_sessions(db: Session, account: Account, which: str = "all") -> list[SessionPublic]:
    """`mine` (owned), `shared` (member of), or `all`; newest first."""
    out: list[SessionPublic] = []
    if which in ("all", "mine"):
        owned = db.exec(select(CodingSession).where(CodingSession.owner_id == account.id)).all()
        out += [to_public(db, s, Role.OWNER) for s in owned]
    if which in ("all", "shared"):
        rows = db.exec(
            select(CodingSession, Member)
            .join(Member, col(Member.session_id) == CodingSession.id)
            .where(Member.account_id == account.id)
        ).all()
        for session, _member in rows:
            role = member_role(db, account.id, session)
            if role is not None:
                out.append(to_public(db, session, role))
    return sorted(out, key=lambda s: s.created_at, reverse=True)


def rename_session(
    db: Session, session: CodingSession, title: str, settings: Settings, actor: Principal
) -> None:
    old = session.title
    session.title = _title(title, settings)
    session.updated_at = utcnow()
    db.add(session)
    audit.record(db, session.id, "rename", actor, old=old, new=session.title)
    db.commit()


def delete_session(db: Session, session_id: str) -> None:
    """Delete the session's rows (its document is the store's, its sandbox the sandbox's)."""
    db.execute(delete(Member).where(col(Member.session_id) == session_id))
    db.execute(delete(Guest).where(col(Guest.session_id) == session_id))
    db.execute(delete(ShareLink).where(col(ShareLink.session_id) == session_id))
    db.execute(delete(AuditEvent).where(col(AuditEvent.session_id) == session_id))
    db.execute(delete(CodingSession).where(col(CodingSession.id) == session_id))
    record_change(db, session_id)
    db.commit()


# -- participants ------------------------------------------------------------------------------


def participants(db: Session, session_id: str) -> list[ParticipantPublic]:
    out: list[ParticipantPublic] = []
    for member, account in db.exec(
        select(Member, Account)
        .join(Account, col(Account.id) == Member.account_id)
        .where(Member.session_id == session_id)
    ).all():
        out.append(
            ParticipantPublic(
                id=account.id,
                kind="member",
                name=account.username,
                role=member.role,
                link_id=member.link_id,
                created_at=member.created_at,
            )
        )
    for guest in db.exec(select(Guest).where(Guest.session_id == session_id)).all():
        out.append(
            ParticipantPublic(
                id=guest.id,
                kind="guest",
                name=guest.name,
                role=guest.role,
                link_id=guest.link_id,
                created_at=guest.created_at,
            )
        )
    return out


def set_role(db: Session, session_id: str, participant_id: str, role: Role, actor: Principal) -> None:
    """Change a member's or a guest's role; an explicit role no longer depends on the link."""
    if role == Role.OWNER:
        raise InvalidInputError("a session has one owner")
    target: Member | Guest | None = db.get(Member, (session_id, participant_id))
    if target is None:
        guest = db.get(Guest, participant_id)
        target = guest if guest is not None and guest.session_id == session_id else None
    if target is None:
        raise InvalidInputError("no such member or guest in this session")
    old = target.role
    target.role = role
    if isinstance(target, Member):
        target.link_id = None
    db.add(target)
    audit.record(db, session_id, "role_change", actor, participant=participant_id, old=old, new=role)
    record_change(db, session_id)
    db.commit()


def remove_participant(db: Session, session_id: str, participant_id: str, actor: Principal) -> None:
    removed = db.execute(
        delete(Member).where(col(Member.session_id) == session_id, col(Member.account_id) == participant_id)
    ).rowcount  # type: ignore[attr-defined]
    removed += db.execute(
        delete(Guest).where(col(Guest.session_id) == session_id, col(Guest.id) == participant_id)
    ).rowcount  # type: ignore[attr-defined]
    if not removed:
        raise InvalidInputError("no such member or guest in this session")
    audit.record(db, session_id, "remove", actor, participant=participant_id)
    record_change(db, session_id)
    db.commit()
