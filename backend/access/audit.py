"""The per-session audit log: joins, leaves, link uses, role changes, revocations."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from backend.access.models import AuditEvent, AuditEventPublic
from backend.auth.types import Principal


def record(
    db: Session,
    session_id: str,
    kind: str,
    actor: Principal | None = None,
    *,
    actor_id: str = "",
    actor_name: str = "",
    **detail: Any,
) -> None:
    """Add one event to the open transaction (the caller commits, with the change it records)."""
    if actor is not None:
        actor_id, actor_name = actor.id, actor.name
    db.add(
        AuditEvent(
            session_id=session_id,
            kind=kind,
            actor_id=actor_id[:64],
            actor_name=actor_name[:64],
            detail=json.dumps(detail, default=str, separators=(",", ":"))[:1000] if detail else "",
        )
    )


def events(db: Session, session_id: str, limit: int, before: int | None = None) -> list[AuditEventPublic]:
    """Newest first; page with `before` (an event id)."""
    query = select(AuditEvent).where(AuditEvent.session_id == session_id)
    if before is not None:
        query = query.where(col(AuditEvent.id) < before)
    rows = db.exec(query.order_by(col(AuditEvent.id).desc()).limit(limit)).all()
    return [AuditEventPublic.model_validate(row, from_attributes=True) for row in rows]
