"""`HistoryStore`: blocking SQL access to versions (callers use `anyio.to_thread`).

Several nodes may hold one session's room, and each one's recorder takes versions of it: the
same state must become one version. Decision: a unique constraint on (session, state key) with
insert-or-merge, rather than a per-session lock or a single recorder node. The database enforces
it on SQLite and PostgreSQL alike, with no lease to hand over when a node dies (every node keeps
recording, so a session never goes unrecorded), and the losing insert is not wasted: it merges
its node's authors into the winner's row, since each node only knows who wrote through it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.history.models import SessionVersion

# When two nodes record the same state with different kinds, the row keeps the strongest.
_KIND_RANK = {"auto": 0, "manual": 1, "restore": 2}


@dataclass(frozen=True, slots=True)
class Head:
    """The newest version of a session, without its data."""

    id: int
    state: str | None
    created_at: datetime


class HistoryStore:
    def __init__(self, engine: Engine, max_versions: int) -> None:
        self.engine = engine
        self.max_versions = max_versions

    def add(
        self,
        session: str,
        data: bytes,
        *,
        state: str,
        kind: str,
        authors: list[dict[str, str]],
        files: list[str],
        note: str = "",
    ) -> tuple[SessionVersion, bool]:
        """(the version of that state, whether this call created it). When the state is already
        recorded (another node, or a checkpoint of an unchanged session) the row gains the authors
        and, if stronger, the kind and note."""
        row = SessionVersion(
            session=session,
            state=state,
            kind=kind,
            data=data,
            authors=_dump(authors),
            files=_dump(files),
            note=note[:500],
        )
        with Session(self.engine) as db:
            db.add(row)
            try:
                db.commit()
            except IntegrityError:
                db.rollback()
                return self._merge(db, session, state, kind, authors, note), False
            db.refresh(row)
            self._prune(db, session)
        return row, True

    def _merge(
        self, db: Session, session: str, state: str, kind: str, authors: list[dict[str, str]], note: str
    ) -> SessionVersion:
        # FOR UPDATE (PostgreSQL; SQLite serializes writers anyway): two nodes merging at once
        # must not lose each other's authors.
        row = db.exec(
            select(SessionVersion)
            .where(col(SessionVersion.session) == session, col(SessionVersion.state) == state)
            .with_for_update()
        ).one()
        known = json.loads(row.authors or "[]")
        merged = known + [a for a in authors if a not in known]
        if len(merged) != len(known):
            row.authors = _dump(merged)
        if _KIND_RANK.get(kind, 0) > _KIND_RANK.get(row.kind, 0):
            row.kind = kind
            row.note = note[:500] or row.note
        db.add(row)
        db.commit()
        db.refresh(row)
        return row

    def _prune(self, db: Session, session: str) -> None:
        """Over the cap: drop the oldest automatic versions (restores and manual ones stay longest)."""
        count = db.execute(
            select(func.count()).select_from(SessionVersion).where(col(SessionVersion.session) == session)
        ).scalar_one()
        excess = count - self.max_versions
        if excess <= 0:
            return
        victims = (
            db.execute(
                select(SessionVersion.id)
                .where(col(SessionVersion.session) == session)
                .order_by(col(SessionVersion.kind).in_(["restore", "manual"]), col(SessionVersion.id))
                .limit(excess)
            )
            .scalars()
            .all()
        )
        db.execute(delete(SessionVersion).where(col(SessionVersion.id).in_(victims)))
        db.commit()

    def list(
        self, session: str, limit: int, before: int | None = None, file: str | None = None
    ) -> list[SessionVersion]:
        """Newest first. With `file`: only versions that changed that path (filtered in Python:
        `files` is a short JSON list, and portable JSON queries differ between SQLite and PostgreSQL)."""
        out: list[SessionVersion] = []
        with Session(self.engine) as db:
            cursor = before
            while len(out) < limit:
                query = select(SessionVersion).where(col(SessionVersion.session) == session)
                if cursor is not None:
                    query = query.where(col(SessionVersion.id) < cursor)
                rows = db.exec(query.order_by(col(SessionVersion.id).desc()).limit(limit)).all()
                if not rows:
                    break
                for row in rows:
                    if file is None or file in json.loads(row.files or "[]"):
                        out.append(row)
                cursor = rows[-1].id
                if file is None:
                    break
        return out[:limit]

    def get(self, session: str, version_id: int) -> SessionVersion | None:
        with Session(self.engine) as db:
            row = db.get(SessionVersion, version_id)
        return row if row is not None and row.session == session else None

    def head(self, session: str) -> Head | None:
        with Session(self.engine) as db:
            found = db.execute(
                select(SessionVersion.id, SessionVersion.state, SessionVersion.created_at)
                .where(col(SessionVersion.session) == session)
                .order_by(col(SessionVersion.id).desc())
                .limit(1)
            ).first()
        return Head(*found) if found is not None else None

    def delete_session(self, session: str) -> None:
        with Session(self.engine) as db:
            db.execute(delete(SessionVersion).where(col(SessionVersion.session) == session))
            db.commit()


def upgrade_schema(conn: Connection) -> None:
    """Databases made before `session_version.state` existed: add it and its unique index."""
    columns = {c["name"] for c in inspect(conn).get_columns("session_version")}
    if "state" in columns:
        return
    conn.execute(text("ALTER TABLE session_version ADD COLUMN state VARCHAR(64)"))
    conn.execute(text("CREATE UNIQUE INDEX uq_session_version_state ON session_version (session, state)"))


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
