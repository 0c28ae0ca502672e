"""History: a state key per version, unique per session (one version per state across nodes).

Was a hand-written ALTER plus a unique *index* at start-up; the models declare a unique
*constraint*, so an index left by that ALTER is replaced by the constraint.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.migrations import adopt

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME = "uq_session_version_state"


def upgrade() -> None:
    adopt.add_columns("session_version", sa.Column("state", sa.String(length=64), nullable=True))
    if NAME in adopt.unique_constraints("session_version"):
        return
    if NAME in adopt.indexes("session_version"):
        op.drop_index(NAME, table_name="session_version")
    with op.batch_alter_table("session_version") as batch:
        batch.create_unique_constraint(NAME, ["session", "state"])


def downgrade() -> None:
    with op.batch_alter_table("session_version") as batch:
        batch.drop_constraint(NAME, type_="unique")
        batch.drop_column("state")
