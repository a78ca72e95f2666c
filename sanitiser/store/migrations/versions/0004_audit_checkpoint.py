"""Signed checkpoints of each station's custody chain head, kept in the store (and, by each
bench, in a file beside it): a chain cut short below one is caught by ``audit verify``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``audit_checkpoint`` (a database made by ``create_all`` may have it already)."""
    if "audit_checkpoint" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station", sa.String(length=256), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.String(length=40), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    op.create_index("ix_audit_checkpoint_station", "audit_checkpoint", ["station"])


def downgrade() -> None:
    """Drop the checkpoints table."""
    op.drop_index("ix_audit_checkpoint_station", table_name="audit_checkpoint")
    op.drop_table("audit_checkpoint")
