"""The home page's list: the sessions I own, those I joined, and those my guest passes hold,
each with its last activity (and, filled in by the route, who is in its live room now).

A guest has no account: the only thing that ties them to a session is the session's guest cookie
(`tandem_guest_<session>`), so their list is read from the cookies the browser sends, each one
resolved as the room page would (an expired or revoked pass lists nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.identity import GUEST_COOKIE_PREFIX, Credentials, resolve
from backend.access.models import Account, AuditEvent, Guest, Member, SessionPublic, aware
from backend.access.sessions import get_session, list_sessions, record_change, to_public
from backend.auth.types import Principal, PrincipalKind, Role
from backend.errors import InvalidInputError, TandemError

log = logging.getLogger("tandem.access")


def guest_sessions(db: Session, cookies: Mapping[str, str], limit: int) -> list[SessionPublic]:
    """Sessions the browser's guest cookies still admit (at most `limit` cookies are looked at)."""
    out: list[SessionPublic] = []
    names = [name for name in cookies if name.startswith(GUEST_COOKIE_PREFIX)][:limit]
    for name in names:
        session_id = name[len(GUEST_COOKIE_PREFIX) :]
        try:
            principal = resolve(db, Credentials(guest_token=cookies[name]), session_id)
        except TandemError as exc:  # an expired or revoked pass: not listed
            log.debug("guest cookie for %r not listed: %s", session_id, exc)
            continue
        if principal.kind != PrincipalKind.GUEST:
            continue
        public = to_public(db, get_session(db, session_id), principal.role)
        out.append(public.model_copy(update={"guest": True}))
    return out


def last_activity(db: Session, session_ids: list[str]) -> dict[str, datetime]:
    """The newest audit event (join, leave, link use, rename, ...) of each session."""
    if not session_ids:
        return {}
    rows = db.exec(
        select(AuditEvent.session_id, func.max(AuditEvent.at))
        .where(col(AuditEvent.session_id).in_(session_ids))
        .group_by(col(AuditEvent.session_id))
    ).all()
    return {sid: aware(at) for sid, at in rows if at is not None}


def my_sessions(
    db: Session, account: Account | None, cookies: Mapping[str, str], guest_limit: int
) -> list[SessionPublic]:
    """Owned and joined sessions (an account), then guest sessions not already listed; each with
    `last_activity`; most recently active first."""
    listed = list_sessions(db, account) if account is not None else []
    seen = {s.id for s in listed}
    listed += [s for s in guest_sessions(db, cookies, guest_limit) if s.id not in seen]
    activity = last_activity(db, [s.id for s in listed])
    out = [s.model_copy(update={"last_activity": activity.get(s.id, aware(s.updated_at))}) for s in listed]
    return sorted(out, key=lambda s: s.last_activity or s.updated_at, reverse=True)


def online_names(states: Mapping[int, dict[str, Any]]) -> list[str]:
    """Distinct people in a room's awareness (stamped `user`s, one per person however many tabs)."""
    names: dict[str, str] = {}
    for state in states.values():
        user = state.get("user") if isinstance(state, dict) else None
        if isinstance(user, dict) and isinstance(user.get("name"), str):
            names.setdefault(str(user.get("id", user["name"])), user["name"])
    return sorted(names.values(), key=str.lower)


def leave(db: Session, session_id: str, principal: Principal) -> None:
    """The caller gives up their own access: a membership or a guest pass. Owners delete instead."""
    if principal.role == Role.OWNER:
        raise InvalidInputError("the owner cannot leave a session: delete it or keep it")
    if principal.kind == PrincipalKind.USER:
        target: Member | Guest | None = db.get(Member, (session_id, principal.ref))
    elif principal.kind == PrincipalKind.GUEST:
        target = db.get(Guest, principal.ref)
    else:
        raise InvalidInputError("only members and guests can leave a session")
    if target is None:
        raise InvalidInputError("you are not a member of this session")
    db.delete(target)
    audit.record(db, session_id, "leave_session", principal)
    record_change(db, session_id)
    db.commit()
