"""The SQLAlchemy engine, shared by every SQL-backed part, tuned per dialect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import create_engine

from backend.store.private import private_sqlite


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_sqlite(Path(path))  # 0600 before SQLite creates it; -wal/-shm inherit it
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL: readers never block the writer. synchronous=NORMAL is durable against a
            # process crash (kill -9), which is what the group-commit window promises.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def create_tables(engine: Engine) -> None:
    """Create or upgrade the schema to the newest revision (Alembic; see backend.store.schema)."""
    from backend.store.schema import upgrade

    upgrade(engine)
