"""Colours within a session: each newcomer gets the least-used palette colour, a person may pick
theirs, and an account's last pick is its preference in new sessions.

Allocation is by session (rows in `participant_color`), not by hashing the id: a hash gave three
guests of one room the same colour. Rows are per person and session, so a colour holds across
reconnects, channels (presence, terminal attribution, screen share) and nodes.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.access.models import ParticipantColor
from backend.store.models import utcnow

# Ten colours that stay apart from each other on the dark theme (and as 25 % selection tints).
PALETTE = [
    "#ef4444",  # red
    "#f59e0b",  # amber
    "#10b981",  # emerald
    "#3b82f6",  # blue
    "#a855f7",  # purple
    "#ec4899",  # pink
    "#06b6d4",  # cyan
    "#84cc16",  # lime
    "#f97316",  # orange
    "#a1887f",  # taupe
]


def _taken(db: Session, session_id: str, principal_id: str) -> Counter[str]:
    rows = db.exec(
        select(ParticipantColor.color).where(
            ParticipantColor.session_id == session_id, ParticipantColor.principal_id != principal_id
        )
    ).all()
    return Counter(rows)


def least_used(taken: Counter[str]) -> str:
    """The palette colour fewest others have (palette order breaks ties)."""
    return min(PALETTE, key=lambda c: (taken[c], PALETTE.index(c)))


def _preference(db: Session, principal_id: str) -> str | None:
    """The colour this person last picked in any session."""
    row = db.exec(
        select(ParticipantColor)
        .where(ParticipantColor.principal_id == principal_id, col(ParticipantColor.chosen).is_(True))
        .order_by(col(ParticipantColor.updated_at).desc())
        .limit(1)
    ).first()
    return row.color if row is not None else None


def color_in_session(db: Session, session_id: str, principal_id: str, *, remember: bool = True) -> str:
    """The person's colour in the session, allocating (and with `remember`, storing) it on first use."""
    row = db.get(ParticipantColor, (session_id, principal_id))
    if row is not None:
        return row.color
    taken = _taken(db, session_id, principal_id)
    preferred = _preference(db, principal_id)
    color = preferred if preferred is not None and not taken[preferred] else least_used(taken)
    if remember:
        try:
            db.add(ParticipantColor(session_id=session_id, principal_id=principal_id, color=color))
            db.commit()
        except IntegrityError:  # a concurrent first connection of the same person stored one
            db.rollback()
            row = db.get(ParticipantColor, (session_id, principal_id))
            if row is None:
                raise
            return row.color
    return color


def pick_color(db: Session, session_id: str, principal_id: str, color: str) -> None:
    """Store a person's own choice (the caller commits, with an access change so it goes live)."""
    color = color.lower()
    row = db.get(ParticipantColor, (session_id, principal_id))
    if row is None:
        row = ParticipantColor(session_id=session_id, principal_id=principal_id, color=color)
    row.color, row.chosen, row.updated_at = color, True, utcnow()
    db.add(row)
