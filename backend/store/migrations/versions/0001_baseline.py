"""Baseline: the tables as `create_all` made them, before the columns later added by hand.

The `session_version` columns added at start-up by the old hand-written ALTERs, and the expiry
indexes, come in 0002-0004, so a database from before migrations upgrades through the same steps.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.store.migrations import adopt

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROLES = ("OWNER", "EDITOR", "COMMENTER", "VIEWER")
# PostgreSQL: one named enum type shared by three tables, created once below (an old database has it).
ROLE = sa.Enum(*ROLES, name="role").with_variant(
    postgresql.ENUM(*ROLES, name="role", create_type=False), "postgresql"
)


def _str(n: int) -> sa.String:
    return sa.String(length=n)


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        postgresql.ENUM(*ROLES, name="role").create(op.get_bind(), checkfirst=True)
    adopt.create_table(
        "access_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", _str(32), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    adopt.create_index("ix_access_change_created_at", "access_change", ["created_at"])
    adopt.create_table(
        "account",
        sa.Column("id", _str(32), nullable=False),
        sa.Column("username", _str(64), nullable=False),
        sa.Column("password_hash", _str(256), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    adopt.create_index("ix_account_username", "account", ["username"], unique=True)
    adopt.create_table(
        "account_name_key",
        sa.Column("key", _str(256), nullable=False),
        sa.Column("account_id", _str(32), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    adopt.create_index("ix_account_name_key_account_id", "account_name_key", ["account_id"])
    adopt.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", _str(32), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("kind", _str(32), nullable=False),
        sa.Column("actor_id", _str(64), nullable=False),
        sa.Column("actor_name", _str(64), nullable=False),
        sa.Column("detail", _str(1000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    adopt.create_index("ix_audit_event_session_id", "audit_event", ["session_id"])
    adopt.create_table(
        "document_snapshot",
        sa.Column("room", _str(512), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("upto_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("room"),
    )
    adopt.create_table(
        "document_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room", _str(512), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    adopt.create_index("ix_document_update_room", "document_update", ["room"])
    adopt.create_table(
        "participant_color",
        sa.Column("session_id", _str(32), nullable=False),
        sa.Column("principal_id", _str(64), nullable=False),
        sa.Column("color", _str(7), nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "principal_id"),
    )
    adopt.create_index("ix_participant_color_principal_id", "participant_color", ["principal_id"])
    adopt.create_table(
        "session_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session", _str(512), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("kind", _str(16), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("authors", sa.Text(), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("note", _str(500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    adopt.create_index("ix_session_version_session", "session_version", ["session"])
    adopt.create_table(
        "login_token",
        sa.Column("token_hash", _str(64), nullable=False),
        sa.Column("account_id", _str(32), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    adopt.create_index("ix_login_token_account_id", "login_token", ["account_id"])
    adopt.create_table(
        "session",
        sa.Column("id", _str(32), nullable=False),
        sa.Column("title", _str(200), nullable=False),
        sa.Column("owner_id", _str(32), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    adopt.create_index("ix_session_owner_id", "session", ["owner_id"])
    adopt.create_table(
        "guest",
        sa.Column("id", _str(32), nullable=False),
        sa.Column("session_id", _str(32), nullable=False),
        sa.Column("link_id", _str(32), nullable=True),
        sa.Column("token_hash", _str(64), nullable=False),
        sa.Column("name", _str(64), nullable=False),
        sa.Column("role", ROLE, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["session.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    adopt.create_index("ix_guest_link_id", "guest", ["link_id"])
    adopt.create_index("ix_guest_session_id", "guest", ["session_id"])
    adopt.create_index("ix_guest_token_hash", "guest", ["token_hash"], unique=True)
    adopt.create_table(
        "session_member",
        sa.Column("session_id", _str(32), nullable=False),
        sa.Column("account_id", _str(32), nullable=False),
        sa.Column("role", ROLE, nullable=False),
        sa.Column("link_id", _str(32), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["session.id"]),
        sa.PrimaryKeyConstraint("session_id", "account_id"),
    )
    adopt.create_index("ix_session_member_account_id", "session_member", ["account_id"])
    adopt.create_index("ix_session_member_link_id", "session_member", ["link_id"])
    adopt.create_table(
        "share_link",
        sa.Column("id", _str(32), nullable=False),
        sa.Column("session_id", _str(32), nullable=False),
        sa.Column("token_hash", _str(64), nullable=False),
        sa.Column("role", ROLE, nullable=False),
        sa.Column("created_by", _str(32), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["session.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    adopt.create_index("ix_share_link_session_id", "share_link", ["session_id"])
    adopt.create_index("ix_share_link_token_hash", "share_link", ["token_hash"], unique=True)


def downgrade() -> None:
    for table in (
        "share_link",
        "session_member",
        "guest",
        "session",
        "login_token",
        "session_version",
        "participant_color",
        "document_update",
        "document_snapshot",
        "audit_event",
        "account_name_key",
        "account",
        "access_change",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        postgresql.ENUM(*ROLES, name="role").drop(op.get_bind(), checkfirst=True)
