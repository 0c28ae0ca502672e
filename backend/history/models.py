"""The `session_version` table: one version of a session's document per row, stored as a Yjs
update — a full checkpoint, or a delta on top of an older version (see backend/history/store.py)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.store.models import utcnow


class SessionVersion(SQLModel, table=True):
    __tablename__ = "session_version"
    # One row per state of a session, whichever node records it (backend/history/store.py).
    __table_args__ = (UniqueConstraint("session", "state", name="uq_session_version_state"),)

    id: int | None = Field(default=None, primary_key=True)
    session: str = Field(index=True, max_length=512)
    created_at: datetime = Field(default_factory=utcnow)
    # auto (idle or interval), unload, manual, restore
    kind: str = Field(default="auto", max_length=16)
    # A Yjs update. `base_id` NULL: a checkpoint, the whole document as `doc.get_update()` encodes
    # it (loadable by any Yjs client; every row written before deltas existed is one). Otherwise
    # the update from version `base_id`'s state to this one (`doc.get_update(base_state_vector)`).
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    base_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    # Deltas between this row and its checkpoint, and their bytes (both 0 for a checkpoint).
    depth: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0, server_default="0"))
    chain_bytes: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default="0")
    )
    # len(data), so the size cap is summed without reading the blobs (NULL in old rows).
    nbytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # JSON: [{"id", "name"}] of who changed the document since the previous version.
    authors: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    # JSON: the paths whose content differs from the previous version (added, changed, removed).
    files: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    note: str = Field(default="", max_length=500)
    # `statekey.state_key` of the document: equal on every node for the same CRDT state.
    # NULL only in rows written before it existed (NULLs never collide in a unique constraint).
    state: str | None = Field(default=None, max_length=64)


class VersionPublic(BaseModel):
    id: int
    created_at: datetime
    kind: str
    authors: list[dict[str, str]]
    files: list[str]
    note: str

    @classmethod
    def of(cls, row: SessionVersion) -> VersionPublic:
        assert row.id is not None
        return cls(
            id=row.id,
            created_at=row.created_at,
            kind=row.kind,
            authors=_json_list(row.authors),
            files=_json_list(row.files),
            note=row.note,
        )


def _json_list(text: str) -> list[Any]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []
