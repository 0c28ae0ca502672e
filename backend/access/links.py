"""Share links: create, check, revoke, and join through one (as a guest or as a member).

The token is shown once, at creation; only its SHA-256 is stored. A link grants one role in one
session. `max_uses` counts the identities it admitted (guests and members joining through
`/join`); a script's `?token=` connection uses the link without consuming a use, and is refused
once the link is used up, expired or revoked. Revoking a link also removes every guest and
membership it admitted, on open connections too.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.accounts import name_taken_by
from backend.access.models import Account, CodingSession, Guest, Member, ShareLink, aware
from backend.access.names import fold
from backend.access.sessions import get_session, record_change
from backend.access.tokens import hash_token, new_id, new_token
from backend.auth.types import Principal, Role
from backend.errors import AuthenticationError, InvalidInputError
from backend.settings import Settings
from backend.store.models import utcnow


def create_link(
    db: Session,
    session: CodingSession,
    role: Role,
    settings: Settings,
    actor: Principal,
    *,
    expires_in_seconds: float | None = None,
    max_uses: int | None = None,
) -> tuple[ShareLink, str]:
    if role == Role.OWNER:
        raise InvalidInputError("a link grants editor, commenter or viewer")
    if expires_in_seconds is not None and not 0 < expires_in_seconds <= settings.link_max_expiry_days * 86400:
        raise InvalidInputError(f"expiry: up to {settings.link_max_expiry_days:g} days")
    if max_uses is not None and max_uses < 1:
        raise InvalidInputError("max uses: at least 1")
    count = db.exec(select(func.count()).where(ShareLink.session_id == session.id)).one()
    if count >= settings.max_links_per_session:
        raise InvalidInputError(f"at most {settings.max_links_per_session} links per session")
    token = new_token()
    now = utcnow()
    link = ShareLink(
        id=new_id(),
        session_id=session.id,
        token_hash=hash_token(token),
        role=role,
        created_by=actor.id,
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in_seconds) if expires_in_seconds else None,
        max_uses=max_uses,
    )
    db.add(link)
    audit.record(db, session.id, "link_create", actor, link=link.id, role=role, max_uses=max_uses)
    db.commit()
    db.refresh(link)
    return link, token


def link_problem(link: ShareLink) -> str | None:
    """Why the link admits no one now, or None when it is usable."""
    if link.revoked_at is not None:
        return "this link was revoked"
    if link.expires_at is not None and aware(link.expires_at) <= utcnow():
        return "this link has expired"
    if link.max_uses is not None and link.uses >= link.max_uses:
        return "this link has been used up"
    return None


def find_link(db: Session, token: str) -> ShareLink:
    """The usable link of a token; `AuthenticationError` says why not."""
    link = db.exec(select(ShareLink).where(ShareLink.token_hash == hash_token(token))).first()
    if link is None:
        raise AuthenticationError("unknown link")
    problem = link_problem(link)
    if problem is not None:
        raise AuthenticationError(problem)
    return link


def revoke_link(db: Session, link: ShareLink, actor: Principal | None = None, *, via: str = "api") -> None:
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        db.add(link)
        audit.record(
            db,
            link.session_id,
            "link_revoke",
            actor,
            actor_name="cli" if actor is None else "",
            link=link.id,
            via=via,
        )
        record_change(db, link.session_id)
        db.commit()


def revoke_by_token(db: Session, token: str) -> ShareLink:
    link = db.exec(select(ShareLink).where(ShareLink.token_hash == hash_token(token))).first()
    if link is None:
        raise InvalidInputError("no link has that token")
    revoke_link(db, link, via="cli")
    return link


def _use(db: Session, link: ShareLink) -> None:
    """Count one use atomically: two joiners racing for the last use cannot both get it."""
    query = update(ShareLink).where(col(ShareLink.id) == link.id).values(uses=col(ShareLink.uses) + 1)
    if link.max_uses is not None:
        query = query.where(col(ShareLink.uses) < link.max_uses)
    if db.execute(query).rowcount != 1:  # type: ignore[attr-defined]
        raise AuthenticationError("this link has been used up")
    if link.max_uses is not None and link.uses + 1 >= link.max_uses:
        # The last use: open `?token=` connections of this link end (backend.access.live).
        record_change(db, link.session_id)


def join_as_guest(db: Session, token: str, name: str, settings: Settings) -> tuple[Guest, str]:
    """Admit a display name: a guest identity for the link's session only (returns its cookie token)."""
    name = " ".join(name.split())
    if not name or len(name) > settings.display_name_max_length:
        raise InvalidInputError(f"name: 1 to {settings.display_name_max_length} characters")
    link = find_link(db, token)
    guests = db.exec(select(func.count()).where(Guest.session_id == link.session_id)).one()
    if guests >= settings.max_guests_per_session:
        raise InvalidInputError("this session has too many guests")
    check_guest_name(db, link.session_id, name)
    _use(db, link)
    guest_token = new_token()
    guest = Guest(
        id=new_id(),
        session_id=link.session_id,
        link_id=link.id,
        token_hash=hash_token(guest_token),
        name=name,
        role=link.role,
        expires_at=utcnow() + timedelta(days=settings.guest_ttl_days),
    )
    db.add(guest)
    audit.record(
        db,
        link.session_id,
        "link_use",
        actor_id=f"guest-{guest.id}",
        actor_name=name,
        link=link.id,
        role=link.role,
    )
    db.commit()
    db.refresh(guest)
    return guest, guest_token


def check_guest_name(db: Session, session_id: str, name: str) -> None:
    """A guest's name may not pass for an account (`?name=alice` next to the account `alice`) or
    for another guest of the session: same skeleton (backend.access.names), same name."""
    key = fold(name)
    account = name_taken_by(db, name)
    if account is not None:
        raise InvalidInputError(
            f"the name {name!r} is too close to the account {account!r}: pick another name "
            "(or log in, if that account is yours)"
        )
    now = utcnow()
    for other in db.exec(select(Guest.name, Guest.expires_at).where(Guest.session_id == session_id)).all():
        if fold(other[0]) == key and aware(other[1]) > now:
            raise InvalidInputError(
                f"someone in this session is already called {other[0]!r}: pick another name"
            )


def join_as_member(db: Session, token: str, account: Account) -> tuple[CodingSession, Role]:
    """A logged-in account opening a link becomes a member with the link's role (owners stay owners;
    an existing membership keeps the higher of the two roles)."""
    link = find_link(db, token)
    session = get_session(db, link.session_id)
    if session.owner_id == account.id:
        return session, Role.OWNER
    member = db.get(Member, (session.id, account.id))
    rank = [Role.VIEWER, Role.COMMENTER, Role.EDITOR]
    if member is not None and rank.index(member.role) >= rank.index(link.role):
        return session, member.role
    _use(db, link)
    if member is None:
        member = Member(session_id=session.id, account_id=account.id, role=link.role, link_id=link.id)
    else:
        member.role, member.link_id = link.role, link.id
        record_change(db, session.id)
    db.add(member)
    audit.record(
        db,
        session.id,
        "link_use",
        actor_id=account.id,
        actor_name=account.username,
        link=link.id,
        role=link.role,
    )
    db.commit()
    return session, link.role


def links_of(db: Session, session_id: str) -> list[ShareLink]:
    return list(
        db.exec(
            select(ShareLink).where(ShareLink.session_id == session_id).order_by(col(ShareLink.created_at))
        ).all()
    )
