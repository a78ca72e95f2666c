"""Fleet sync: the sync ledger (records pushed from a bench's local journal, exactly once) and
``store_meta`` (the journal's id and how far its syncs have got).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``sync_ledger`` and ``store_meta`` (a database adopted from ``create_all`` by newer
    software may have them already)."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "sync_ledger" not in existing:
        _ledger()
    if "store_meta" not in existing:
        op.create_table(
            "store_meta",
            sa.Column("key", sa.String(length=128), nullable=False),
            sa.Column("value", sa.String(length=1000), nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )


def _ledger() -> None:
    op.create_table(
        "sync_ledger",
        sa.Column("journal", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("station", sa.String(length=256), nullable=False),
        sa.Column("local_seq", sa.Integer(), nullable=False),
        sa.Column("local_hash", sa.String(length=64), nullable=False),
        sa.Column("central_id", sa.Integer(), nullable=False),
        sa.Column("central_hash", sa.String(length=64), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("journal", "kind", "local_id"),
    )


def downgrade() -> None:
    """Drop the sync tables."""
    op.drop_table("store_meta")
    op.drop_table("sync_ledger")
