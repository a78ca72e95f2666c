"""The label print queue: labels waiting for a printer, retried after a restart.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``print_job``."""
    op.create_table(
        "print_job",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("printer", sa.String(length=500), nullable=False),
        sa.Column("printer_name", sa.String(length=64), nullable=False),
        sa.Column("label_json", sa.String(), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.Column("reprint", sa.Boolean(), nullable=False),
        sa.Column("station", sa.String(length=256), nullable=False),
        sa.Column("requested_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_print_job_subject", "print_job", ["subject"])
    op.create_index("ix_print_job_state", "print_job", ["state"])


def downgrade() -> None:
    """Drop ``print_job``."""
    op.drop_table("print_job")
