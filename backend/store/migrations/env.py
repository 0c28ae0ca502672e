"""Alembic's environment: always run by backend.store.schema with a connection it opened.

On PostgreSQL the whole upgrade runs in one transaction that first takes an advisory lock, so
nodes starting together migrate one at a time: the first upgrades, the others wait, then find the
database at head and do nothing. SQLite is single-node (and its file lock serializes writers).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from backend.store.schema import LOCK_KEY, target_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `tandem db upgrade` (backend.store.schema), not bare alembic")

context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    render_as_batch=True,  # SQLite alters tables by copying them (alembic's batch mode)
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": LOCK_KEY})
    context.run_migrations()
