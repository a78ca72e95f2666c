"""The network-boot agent channel's log: every report received (accepted or refused, and why)
and the last sequence number accepted from each agent.

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``agent_report`` and ``agent_sequence``."""
    op.create_table(
        "agent_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station", sa.String(length=256), nullable=False),
        sa.Column("session", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=4096), nullable=False),
        sa.Column("peer", sa.String(length=256), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agent_report_session", "agent_report", ["session"])
    op.create_table(
        "agent_sequence",
        sa.Column("session", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session", "agent"),
    )


def downgrade() -> None:
    """Drop the agent channel's tables."""
    op.drop_table("agent_sequence")
    op.drop_index("ix_agent_report_session", table_name="agent_report")
    op.drop_table("agent_report")
