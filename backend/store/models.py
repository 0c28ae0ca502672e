"""SQLModel tables of the document store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class DocumentUpdate(SQLModel, table=True):
    """The append-only update log; `id` is the global sequence, ordered per room by it."""

    __tablename__ = "document_update"

    id: int | None = Field(default=None, primary_key=True)
    room: str = Field(index=True, max_length=512)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class DocumentSnapshot(SQLModel, table=True):
    """The compacted state of a room: every update up to `upto_seq`, merged."""

    __tablename__ = "document_snapshot"

    room: str = Field(primary_key=True, max_length=512)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    upto_seq: int = 0
    updated_at: datetime = Field(default_factory=utcnow)
