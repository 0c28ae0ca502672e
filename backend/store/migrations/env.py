"""Alembic's environment: always run by backend.store.schema, inside the transaction (and, on
PostgreSQL, under the advisory lock) it opened."""

from __future__ import annotations

from alembic import context

from backend.store.schema import target_metadata

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
    context.run_migrations()
