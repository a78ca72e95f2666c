"""Devices (laptops, desktops, monitors ...) taken in at the bench, the drives linked to them,
and their signed device certificates.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``device``, ``device_drive`` and ``device_certificate``."""
    op.create_table(
        "device",
        sa.Column("tag_key", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("service_key", sa.String(length=64), nullable=False),
        sa.Column("service_tag", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("make", sa.String(length=80), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("lot", sa.String(length=80), nullable=False),
        sa.Column("notes", sa.String(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("station", sa.String(length=256), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=256), nullable=False),
        sa.Column("cosmetic", sa.String(length=4), nullable=False),
        sa.Column("checks", sa.String(), nullable=False),
        sa.Column("locks", sa.String(), nullable=False),
        sa.Column("inventory", sa.String(), nullable=False),
        sa.Column("destination", sa.String(length=200), nullable=False),
        sa.Column("certificate_id", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tag_key"),
    )
    for column in ("service_key", "kind", "serial", "lot", "state"):
        op.create_index(f"ix_device_{column}", "device", [column])
    op.create_table(
        "device_drive",
        sa.Column("drive_key", sa.String(length=512), nullable=False),
        sa.Column("device_key", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=512), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("drive_key"),
    )
    op.create_index("ix_device_drive_device_key", "device_drive", ["device_key"])
    op.create_table(
        "device_certificate",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("device_key", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_json", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_device_certificate_device_key", "device_certificate", ["device_key"])


def downgrade() -> None:
    """Drop the device tables."""
    op.drop_table("device_certificate")
    op.drop_table("device_drive")
    op.drop_table("device")
