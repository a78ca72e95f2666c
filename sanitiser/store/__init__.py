"""The store: SQLModel tables on SQLite (default) or PostgreSQL, behind `Store`."""

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
