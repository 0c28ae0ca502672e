"""The database schema: Alembic migrations run at start-up (`tandem serve`) and by `tandem db`.

The scripts live in `backend/store/migrations` and ship inside the package, so an installed wheel
migrates its own database; nothing reads an alembic.ini. `upgrade` is idempotent and safe to run
from several nodes at once (see migrations/env.py for the PostgreSQL lock).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock(hashtext(LOCK_KEY)). The key the releases before migrations took around
# `create_all`: during a rolling upgrade an old node starting beside a new one waits for it too.
LOCK_KEY = "tandem:create_tables"


def target_metadata() -> MetaData:
    """Every table the models declare (importing the model modules registers them)."""
    from sqlmodel import SQLModel

    import backend.access.models
    import backend.history.models
    import backend.store.models  # noqa: F401

    return SQLModel.metadata


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the database to `revision`: a fresh one is created, an older one upgraded in place.
    Returns the revision it was at (None: empty or unversioned), read under the lock.

    On PostgreSQL the whole upgrade is one transaction that first takes an advisory lock, so
    nodes starting together migrate one at a time: the first upgrades, the others wait, then find
    the database at head and do nothing (PostgreSQL's DDL is transactional). SQLite is
    single-node, and its file lock serializes writers anyway.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": LOCK_KEY})
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(_config(conn), revision)
    return before


def current(engine: Engine) -> str | None:
    """The revision the database is at (None: empty, or made before migrations existed)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def differences(engine: Engine) -> list[Any]:
    """What autogenerate would write to make the database match the models ([] when they agree)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, target_metadata()))
