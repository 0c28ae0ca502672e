"""Access: indexes on link and guest expiry (the live re-check finds what expired since its last poll).

Were created at start-up by backend/access/live.py, since `create_all` skips existing tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from backend.store.migrations import adopt

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    adopt.create_index("ix_share_link_expires_at", "share_link", ["expires_at"])
    adopt.create_index("ix_guest_expires_at", "guest", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_guest_expires_at", table_name="guest")
    op.drop_index("ix_share_link_expires_at", table_name="share_link")
