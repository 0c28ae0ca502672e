"""`HistoryStore`: blocking SQL access to versions (callers use `anyio.to_thread`).

Versions are Yjs deltas with periodic checkpoints. Decision, against a content-addressed file
store (blobs per file keyed by hash, a version = a manifest path -> hash), measured on a 300-file
4.9 MB document with one-line edits (bench/history_memory.py): a full copy cost 4,917 KB per
version; a delta costs well under 1 KB plus its share of a checkpoint (4.9 MB every
`history_checkpoint_every` versions: ~77 KB at 64), while a manifest alone would be ~25 KB per
version for 1,500 files (16-byte hashes do not compress) plus every changed file whole (a
one-character edit to a 300 KB file stores 300 KB). Deltas also keep what the rest of Tandem
speaks: a version decodes to a Yjs document, restores and diffs work unchanged on it, and the
recorder makes a delta with one call (`doc.get_update(state_vector)`) on the state it already
holds, without re-reading files. Replay is bounded: at most `history_checkpoint_every - 1` deltas
and `history_checkpoint_max_delta_bytes` of them after a checkpoint. A delta is always based on
a version the recording node itself held (its previous version, or the stored head when the
room loaded in exactly that state), so base + delta is exactly the recorded state on any node.
Rows written before deltas existed have no base: they read as checkpoints (no migration of data).

Size cap: `max_bytes` per session on top of the version count; over either, `pruning.plan`
drops the oldest versions and rewrites any survivor whose base went as a checkpoint.

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

from pycrdt import Doc
from sqlalchemy import Engine, delete, func
from sqlalchemy import select as select_columns  # typed past sqlmodel's four columns
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from backend.errors import HistoryChainError
from backend.history import docfiles, pruning
from backend.history.models import SessionVersion

# A recorder's next delta is based on its newest version: never prune the newest few, so a base
# is not pruned under a node that is about to record on it (several nodes may record a session).
KEEP_NEWEST = 8

# When two nodes record the same state with different kinds, the row keeps the strongest.
_KIND_RANK = {"auto": 0, "manual": 1, "restore": 2}


@dataclass(frozen=True, slots=True)
class Head:
    """The newest version of a session, without its data."""

    id: int
    state: str | None
    created_at: datetime
    depth: int = 0
    chain_bytes: int = 0


class HistoryStore:
    def __init__(self, engine: Engine, max_versions: int, max_bytes: int = 1 << 62) -> None:
        self.engine = engine
        self.max_versions = max_versions
        self.max_bytes = max_bytes

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
        base_id: int | None = None,
        depth: int = 0,
        chain_bytes: int = 0,
    ) -> tuple[SessionVersion, bool]:
        """(the version of that state, whether this call created it). When the state is already
        recorded (another node, or a checkpoint of an unchanged session) the row gains the authors
        and, if stronger, the kind and note. `data` is a checkpoint, or with `base_id` the update
        from that version's state; a base that is gone raises `HistoryChainError`."""
        row = SessionVersion(
            session=session,
            state=state,
            kind=kind,
            data=data,
            authors=_dump(authors),
            files=_dump(files),
            note=note[:500],
            base_id=base_id,
            depth=depth if base_id is not None else 0,
            chain_bytes=chain_bytes if base_id is not None else 0,
            nbytes=len(data),
        )
        with Session(self.engine) as db:
            if base_id is not None and not self._exists(db, session, base_id):
                raise HistoryChainError(f"version {base_id} of {session!r} is gone: record a checkpoint")
            db.add(row)
            try:
                db.commit()
            except IntegrityError:
                db.rollback()
                return self._merge(db, session, state, kind, authors, note), False
            db.refresh(row)
            if self._prune(db, session):
                db.refresh(row)  # the commit expired it (the newest versions are never pruned)
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

    @staticmethod
    def _exists(db: Session, session: str, version_id: int) -> bool:
        found = db.execute(
            select(SessionVersion.id).where(
                col(SessionVersion.id) == version_id, col(SessionVersion.session) == session
            )
        ).first()
        return found is not None

    def _prune(self, db: Session, session: str) -> bool:
        """Over a cap (count or bytes): drop the oldest versions (`pruning.plan`); True if any."""
        size = func.coalesce(col(SessionVersion.nbytes), func.length(col(SessionVersion.data)))
        rows = db.execute(
            select(SessionVersion.id, SessionVersion.kind, SessionVersion.base_id, size)
            .where(col(SessionVersion.session) == session)
            .order_by(col(SessionVersion.id))
        ).all()
        todo = pruning.plan(
            [pruning.RowMeta(int(i), str(k), b, int(n or 0)) for i, k, b, n in rows],
            max_versions=self.max_versions,
            max_bytes=self.max_bytes,
            keep_newest=KEEP_NEWEST,
        )
        if not todo.victims:
            return False
        for row_id in todo.rebase:  # before the victims go: their chains run through them
            row = db.get(SessionVersion, row_id)
            if row is None:
                continue
            full = _materialize(self._chain(db, row))
            row.data, row.base_id, row.depth, row.chain_bytes, row.nbytes = full, None, 0, 0, len(full)
            db.add(row)
        db.flush()
        db.execute(delete(SessionVersion).where(col(SessionVersion.id).in_(todo.victims)))
        db.commit()
        return True

    @staticmethod
    def _chain(db: Session, row: SessionVersion) -> list[bytes]:
        """The updates that make up `row`'s state: its checkpoint first, then the deltas."""
        parts = [row.data]
        seen = {row.id}
        while row.base_id is not None:
            base = db.get(SessionVersion, row.base_id)
            if base is None or base.session != row.session or base.id in seen:
                raise HistoryChainError(f"version {row.id} of {row.session!r}: base {row.base_id} is gone")
            seen.add(base.id)
            parts.append(base.data)
            row = base
        parts.reverse()
        return parts

    def full_update(self, row: SessionVersion) -> bytes:
        """The whole document at that version (a checkpoint's own data)."""
        if row.base_id is None:
            return row.data
        with Session(self.engine) as db:
            return _materialize(self._chain(db, row))

    def files_at(self, row: SessionVersion) -> dict[str, str]:
        """The text files of the document at that version."""
        if row.base_id is None:
            return docfiles.decode(row.data)
        with Session(self.engine) as db:
            parts = self._chain(db, row)
        return docfiles.files_of(_apply(parts))

    def state_vector_at(self, session: str, version_id: int) -> bytes | None:
        """The state vector of the document at that version (None: no such version or chain).
        Rebuilds the document: call it in a worker thread, once per room load at most."""
        with Session(self.engine) as db:
            row = db.get(SessionVersion, version_id)
            if row is None or row.session != session:
                return None
            try:
                parts = self._chain(db, row)
            except HistoryChainError:
                return None
        return _apply(parts).get_state()

    def total_bytes(self, session: str) -> int:
        size = func.coalesce(col(SessionVersion.nbytes), func.length(col(SessionVersion.data)))
        with Session(self.engine) as db:
            found = db.execute(
                select(func.coalesce(func.sum(size), 0)).where(col(SessionVersion.session) == session)
            ).scalar_one()
        return int(found)

    def list(
        self, session: str, limit: int, before: int | None = None, file: str | None = None
    ) -> list[SessionVersion]:
        """Newest first. With `file`: only versions that changed that path (filtered in Python:
        `files` is a short JSON list, and portable JSON queries differ between SQLite and PostgreSQL)."""
        out: list[SessionVersion] = []
        with Session(self.engine) as db:
            cursor = before
            while len(out) < limit:
                # The list never needs the updates: they stay in the database.
                query = (
                    select(SessionVersion)
                    .options(defer(SessionVersion.data))  # type: ignore[arg-type]
                    .where(col(SessionVersion.session) == session)
                )
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
                select_columns(
                    col(SessionVersion.id),
                    col(SessionVersion.state),
                    col(SessionVersion.created_at),
                    col(SessionVersion.depth),
                    col(SessionVersion.chain_bytes),
                )
                .where(col(SessionVersion.session) == session)
                .order_by(col(SessionVersion.id).desc())
                .limit(1)
            ).first()
        return Head(*found) if found is not None else None

    def delete_session(self, session: str) -> None:
        with Session(self.engine) as db:
            db.execute(delete(SessionVersion).where(col(SessionVersion.session) == session))
            db.commit()


def _apply(parts: list[bytes]) -> Doc:
    doc: Doc = Doc()
    for part in parts:
        if part:
            doc.apply_update(part)
    return doc


def _materialize(parts: list[bytes]) -> bytes:
    return parts[0] if len(parts) == 1 else _apply(parts).get_update()


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
