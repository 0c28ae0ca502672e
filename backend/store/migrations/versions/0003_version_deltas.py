"""History: versions stored as deltas on checkpoints (base, depth, chain and row sizes).

Was a hand-written ALTER at start-up. Old rows keep their full copies and read as checkpoints
(`base_id` NULL, depth 0); their `nbytes` stays NULL and is computed on use.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.migrations import adopt

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("base_id", "depth", "chain_bytes", "nbytes")


def upgrade() -> None:
    adopt.add_columns(
        "session_version",
        sa.Column("base_id", sa.Integer(), nullable=True),
        sa.Column("depth", sa.Integer(), server_default="0", nullable=False),
        sa.Column("chain_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("nbytes", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("session_version") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
