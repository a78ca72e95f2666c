"""The store: SQLModel tables on SQLite (default) or PostgreSQL, behind `Store`."""

from sanitiser.store.repository import DriveView, JobView, Store, drive_key

__all__ = ["DriveView", "JobView", "Store", "drive_key"]
