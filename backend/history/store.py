"""`HistoryStore`: blocking SQL access to versions (callers use `anyio.to_thread`)."""

from __future__ import annotations

import json

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from backend.history.models import SessionVersion


class HistoryStore:
    def __init__(self, engine: Engine, max_versions: int) -> None:
        self.engine = engine
        self.max_versions = max_versions

    def add(
        self,
        session: str,
        data: bytes,
        *,
        kind: str,
        authors: list[dict[str, str]],
        files: list[str],
        note: str = "",
    ) -> SessionVersion:
        row = SessionVersion(
            session=session,
            kind=kind,
            data=data,
            authors=json.dumps(authors, separators=(",", ":")),
            files=json.dumps(files, separators=(",", ":")),
            note=note[:500],
        )
        with Session(self.engine) as db:
            db.add(row)
            db.commit()
            db.refresh(row)
            self._prune(db, session)
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

    def latest(self, session: str) -> SessionVersion | None:
        with Session(self.engine) as db:
            return db.exec(
                select(SessionVersion)
                .where(col(SessionVersion.session) == session)
                .order_by(col(SessionVersion.id).desc())
                .limit(1)
            ).first()

    def delete_session(self, session: str) -> None:
        with Session(self.engine) as db:
            db.execute(delete(SessionVersion).where(col(SessionVersion.session) == session))
            db.commit()
