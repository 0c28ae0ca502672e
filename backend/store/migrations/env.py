"""Alembic's environment. `tandem serve` and `tandem db` run it through backend.store.schema,
inside the transaction (and, on PostgreSQL, under the advisory lock) that opened. The `alembic`
command line (developers: `alembic revision --autogenerate -m ...` from the checkout, whose
alembic.ini points here) connects to the database the `TANDEM_*` settings name, without the lock.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from backend.store.schema import target_metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        render_as_batch=True,  # SQLite alters tables by copying them (alembic's batch mode)
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    from backend.settings import Settings
    from backend.store.database import make_engine

    engine = make_engine(Settings.model_validate({}).resolved_database_url())
    try:
        with engine.connect() as connection:
            run(connection)
    finally:
        engine.dispose()
