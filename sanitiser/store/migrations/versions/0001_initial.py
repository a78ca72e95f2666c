"""The initial schema: exactly the tables ``create_all`` made before migrations existed.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _text(length: int | None = None) -> sa.String:
    return sa.String(length=length)


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the bench, job, certificate and custody tables."""
    op.create_table(
        "drive_seen",
        sa.Column("key", _text(512), nullable=False),
        sa.Column("path", _text(4096), nullable=False),
        sa.Column("model", _text(512), nullable=False),
        sa.Column("serial", _text(512), nullable=False),
        sa.Column("wwn", _text(128), nullable=False),
        sa.Column("transport", _text(16), nullable=False),
        sa.Column("media_kind", _text(16), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("health_grade", _text(16), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("protected_reason", _text(4096), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("first_seen", _time(), nullable=False),
        sa.Column("last_seen", _time(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_drive_seen_serial", "drive_seen", ["serial"])

    op.create_table(
        "job",
        sa.Column("id", _text(64), nullable=False),
        sa.Column("drive_key", _text(512), nullable=False),
        sa.Column("serial", _text(512), nullable=False),
        sa.Column("state", _text(32), nullable=False),
        sa.Column("method", _text(64), nullable=False),
        sa.Column("station", _text(256), nullable=False),
        sa.Column("operator", _text(256), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("detail", _text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_drive_key", "job", ["drive_key"])
    op.create_index("ix_job_serial", "job", ["serial"])
    op.create_index("ix_job_state", "job", ["state"])

    op.create_table(
        "certificate",
        sa.Column("id", _text(64), nullable=False),
        sa.Column("job_id", _text(64), nullable=False),
        sa.Column("serial", _text(512), nullable=False),
        sa.Column("issued_at", _time(), nullable=False),
        sa.Column("record_json", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_certificate_job_id", "certificate", ["job_id"])
    op.create_index("ix_certificate_serial", "certificate", ["serial"])

    op.create_table(
        "job_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", _text(64), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("kind", _text(32), nullable=False),
        sa.Column("state", _text(32), nullable=False),
        sa.Column("data", _text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_event_job_id", "job_event", ["job_id"])

    op.create_table(
        "job_journal",
        sa.Column("job_id", _text(64), nullable=False),
        sa.Column("journal", _text(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )

    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station", _text(256), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", _text(32), nullable=False),
        sa.Column("kind", _text(32), nullable=False),
        sa.Column("subject", _text(512), nullable=False),
        sa.Column("ref", _text(256), nullable=False),
        sa.Column("actor", _text(256), nullable=False),
        sa.Column("data", _text(), nullable=False),
        sa.Column("prev_hash", _text(64), nullable=False),
        sa.Column("hash", _text(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("station", "seq", name="uq_audit_station_seq"),
    )
    op.create_index("ix_audit_entry_kind", "audit_entry", ["kind"])
    op.create_index("ix_audit_entry_ref", "audit_entry", ["ref"])
    op.create_index("ix_audit_entry_station", "audit_entry", ["station"])
    op.create_index("ix_audit_entry_subject", "audit_entry", ["subject"])

    op.create_table(
        "audit_head",
        sa.Column("station", _text(256), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", _text(64), nullable=False),
        sa.Column("at", _text(32), nullable=False),
        sa.PrimaryKeyConstraint("station"),
    )

    op.create_table(
        "destination",
        sa.Column("name", _text(200), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("contact", _text(1000), nullable=False),
        sa.Column("accepts", _text(), nullable=False),
        sa.Column("scheme", _text(500), nullable=False),
        sa.Column("notes", _text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )

    op.create_table(
        "consignment",
        sa.Column("id", _text(64), nullable=False),
        sa.Column("destination", _text(200), nullable=False),
        sa.Column("station", _text(256), nullable=False),
        sa.Column("state", _text(16), nullable=False),
        sa.Column("opened_at", _time(), nullable=False),
        sa.Column("opened_by", _text(256), nullable=False),
        sa.Column("manifest_sha256", _text(64), nullable=False),
        sa.Column("manifest_at", _time(), nullable=True),
        sa.Column("manifest_envelope", sa.LargeBinary(), nullable=False),
        sa.Column("manifest_pdf", sa.LargeBinary(), nullable=False),
        sa.Column("closed_at", _time(), nullable=True),
        sa.Column("collector", _text(256), nullable=False),
        sa.Column("closed_by", _text(256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consignment_destination", "consignment", ["destination"])
    op.create_index("ix_consignment_state", "consignment", ["state"])

    op.create_table(
        "consignment_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consignment_id", _text(64), nullable=False),
        sa.Column("certificate_id", _text(64), nullable=False),
        sa.Column("drive_key", _text(512), nullable=False),
        sa.Column("serial", _text(512), nullable=False),
        sa.Column("model", _text(512), nullable=False),
        sa.Column("media_kind", _text(16), nullable=False),
        sa.Column("method", _text(128), nullable=False),
        sa.Column("nist_category", _text(16), nullable=False),
        sa.Column("outcome", _text(16), nullable=False),
        sa.Column("verification", _text(16), nullable=False),
        sa.Column("health_grade", _text(16), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("added_at", _time(), nullable=False),
        sa.Column("added_by", _text(256), nullable=False),
        sa.Column("handed_over_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("certificate_id"),
    )
    op.create_index("ix_consignment_item_consignment_id", "consignment_item", ["consignment_id"])
    op.create_index("ix_consignment_item_drive_key", "consignment_item", ["drive_key"])


def downgrade() -> None:
    """Drop every table (all records are lost)."""
    for table in (
        "consignment_item",
        "consignment",
        "destination",
        "audit_head",
        "audit_entry",
        "job_journal",
        "job_event",
        "certificate",
        "job",
        "drive_seen",
    ):
        op.drop_table(table)
