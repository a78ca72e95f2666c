"""The store: SQLModel tables on SQLite (default) or PostgreSQL, behind `Store`."""

# The custody tables (audit log, destinations, consignments) join the metadata before any
# Store runs create_all.
from sanitiser.store import audit, consignments, destinations  # noqa: F401
from sanitiser.store.repository import (
    DriveView,
    JobEventView,
    JobView,
    StaleJobStateError,
    Store,
    drive_key,
)

__all__ = [
    "DriveView",
    "JobEventView",
    "JobView",
    "StaleJobStateError",
    "Store",
    "drive_key",
]
