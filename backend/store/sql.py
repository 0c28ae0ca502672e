"""`SqlDocumentStore`: the document store on SQLModel (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from pycrdt import merge_updates
from sqlalchemy import Engine, delete, insert, select, text
from sqlmodel import Session, col

from backend.store.models import DocumentSnapshot, DocumentUpdate, utcnow
from backend.store.types import StoredDocument

_APPEND = insert(DocumentUpdate).returning(col(DocumentUpdate.id))


class SqlDocumentStore:
    def __init__(self, engine: Engine, *, shared: bool = False) -> None:
        self.engine = engine
        # Several nodes write the same rooms (multi-node): log ids commit out of order across
        # nodes, and one node's doc may lack another's latest rows. So loading reads every row
        # left, and compaction merges the stored snapshot and rows into the new one and deletes
        # exactly the rows it merged, under a per-room lock.
        self.shared = shared

    def load(self, room: str) -> StoredDocument:
        with Session(self.engine) as session:
            snap = session.get(DocumentSnapshot, room)
            after = snap.upto_seq if snap is not None and not self.shared else 0
            rows = session.execute(
                select(col(DocumentUpdate.id), col(DocumentUpdate.data))
                .where(col(DocumentUpdate.room) == room, col(DocumentUpdate.id) > after)
                .order_by(col(DocumentUpdate.id))
            ).all()
        last = max(rows[-1][0] if rows else 0, snap.upto_seq if snap is not None else 0)
        return StoredDocument(
            snapshot=snap.data if snap is not None else None,
            updates=[bytes(r[1]) for r in rows],
            last_seq=last,
        )

    def append(self, room: str, updates: list[bytes]) -> int:
        # Core on a connection, not an ORM Session, with the statement built once: the same one
        # transaction, at a quarter of the CPU (about 0.3 ms instead of 1.3 ms per group commit
        # on SQLite), which the writer pays once per group-commit window of every busy room.
        now = utcnow()
        with self.engine.begin() as conn:
            result = conn.execute(_APPEND, [{"room": room, "data": u, "created_at": now} for u in updates])
            return max(r[0] or 0 for r in result.all())  # ids: never None once inserted

    def compact(self, room: str, snapshot: bytes, upto_seq: int) -> None:
        if self.shared:
            self._compact_merging(room, snapshot)
            return
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
                delete(DocumentUpdate).where(
                    col(DocumentUpdate.room) == room, col(DocumentUpdate.id) <= upto_seq
                )
            )
            session.commit()

    def _compact_merging(self, room: str, snapshot: bytes) -> None:
        with Session(self.engine) as session:
            if self.engine.dialect.name == "postgresql":
                # Two nodes compacting at once would each overwrite the other's snapshot.
                session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:room))"), {"room": room})
            current = session.get(DocumentSnapshot, room)
            rows = session.execute(
                select(col(DocumentUpdate.id), col(DocumentUpdate.data))
                .where(col(DocumentUpdate.room) == room)
                .order_by(col(DocumentUpdate.id))
            ).all()
            parts = ([bytes(current.data)] if current is not None else []) + [bytes(r[1]) for r in rows]
            merged = merge_updates(*parts, snapshot) if parts else snapshot
            upto = max([r[0] for r in rows] + [current.upto_seq if current is not None else 0])
            if current is None:
                session.add(DocumentSnapshot(room=room, data=merged, upto_seq=upto))
            else:
                current.data = merged
                current.upto_seq = upto
                current.updated_at = utcnow()
            ids = [r[0] for r in rows]
            for i in range(0, len(ids), 1000):  # exactly the rows merged: later commits stay
                session.execute(delete(DocumentUpdate).where(col(DocumentUpdate.id).in_(ids[i : i + 1000])))
            session.commit()

    def delete(self, room: str) -> None:
        with Session(self.engine) as session:
            session.execute(delete(DocumentUpdate).where(col(DocumentUpdate.room) == room))
            session.execute(delete(DocumentSnapshot).where(col(DocumentSnapshot.room) == room))
            session.commit()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()
