"""Drive sizes are 64-bit: ``drive_seen.size_bytes`` becomes BIGINT (PostgreSQL's INTEGER is
32-bit and refused every drive over 2 GiB; SQLite's INTEGER was 64-bit already).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Widen ``drive_seen.size_bytes`` to BIGINT."""
    with op.batch_alter_table("drive_seen") as batch:
        batch.alter_column(
            "size_bytes", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )


def downgrade() -> None:
    """Narrow it back (fails on PostgreSQL if a drive over 2 GiB is recorded)."""
    with op.batch_alter_table("drive_seen") as batch:
        batch.alter_column(
            "size_bytes", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
