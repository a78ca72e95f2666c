"""The store: SQLModel tables on SQLite (default) or PostgreSQL, behind `Store`."""

from sanitiser.store.identity import drive_key
from sanitiser.store.repository import DriveView, JobEventView, JobView, StaleJobStateError, Store

__all__ = [
    "DriveView",
    "JobEventView",
    "JobView",
    "StaleJobStateError",
    "Store",
    "drive_key",
]
