"""`SqlDocumentStore`: the document store on SQLModel (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select, text
from sqlmodel import Session

from backend.store.models import DocumentSnapshot, DocumentUpdate, utcnow
from backend.store.types import StoredDocument


class SqlDocumentStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, room: str) -> StoredDocument:
        with Session(self.engine) as session:
            snap = session.get(DocumentSnapshot, room)
            after = snap.upto_seq if snap is not None else 0
            rows = session.execute(
                select(DocumentUpdate.id, DocumentUpdate.data)
                .where(DocumentUpdate.room == room, DocumentUpdate.id > after)
                .order_by(DocumentUpdate.id)
            ).all()
        last = rows[-1][0] if rows else after
        return StoredDocument(
            snapshot=snap.data if snap is not None else None,
            updates=[bytes(r[1]) for r in rows],
            last_seq=last,
        )

    def append(self, room: str, updates: list[bytes]) -> int:
        now = utcnow()
        with Session(self.engine) as session:
            result = session.execute(
                insert(DocumentUpdate).returning(DocumentUpdate.id),
                [{"room": room, "data": u, "created_at": now} for u in updates],
            )
            last = max(r[0] for r in result.all())
            session.commit()
        return last

    def compact(self, room: str, snapshot: bytes, upto_seq: int) -> None:
        with Session(self.engine) as session:
            current = session.get(DocumentSnapshot, room)
            if current is None:
                session.add(DocumentSnapshot(room=room, data=snapshot, upto_seq=upto_seq))
            elif upto_seq >= current.upto_seq:
                current.data = snapshot
                current.upto_seq = upto_seq
                current.updated_at = utcnow()
            else:
                return  # an older compaction lost the race: keep the newer snapshot
            session.execute(
                delete(DocumentUpdate).where(DocumentUpdate.room == room, DocumentUpdate.id <= upto_seq)
            )
            session.commit()

    def delete(self, room: str) -> None:
        with Session(self.engine) as session:
            session.execute(delete(DocumentUpdate).where(DocumentUpdate.room == room))
            session.execute(delete(DocumentSnapshot).where(DocumentSnapshot.room == room))
            session.commit()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()
