"""The error hierarchy. The core raises these and never prints; the CLI and TUI translate them."""

from __future__ import annotations

import errno
from collections.abc import Sequence


class SanitiserError(Exception):
    """Base of every error the product raises on purpose.

    Attributes:
        msg: a plain-English message for the technician or auditor.
        title: a short heading for dialogs.
    """

    def __init__(self, msg: str, title: str = "") -> None:
        super().__init__(msg)
        self.msg = msg
        self.title = title

    def __str__(self) -> str:
        return self.msg


class ConfigError(SanitiserError):
    """Settings or a policy file are invalid."""


class OverrideRefusedError(SanitiserError):
    """An operator's ``--method``/``--category`` cannot be honoured for this drive and policy."""


class DriveDetectionError(SanitiserError):
    """Drives could not be enumerated or a device could not be read."""


class DriveBusyError(SanitiserError):
    """The guard refused a drive: it is protected, in use, or not the drive that was confirmed.

    Attributes:
        reasons: every reason for the refusal, one plain sentence each.
    """

    def __init__(self, msg: str, title: str = "", reasons: Sequence[str] = ()) -> None:
        super().__init__(msg, title)
        self.reasons = tuple(reasons)


class ToolOutputError(SanitiserError):
    """A tool printed something we cannot parse; the raw text is kept for the record."""

    def __init__(self, tool: str, msg: str, raw: str = "") -> None:
        super().__init__(f"{tool}: {msg}")
        self.tool = tool
        self.raw = raw


class CommandFailedError(SanitiserError):
    """An external command exited unsuccessfully (or could not be started)."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str = "") -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        super().__init__(
            f"{' '.join(self.argv)} exited {returncode}" + (f": {tail}" if tail else "")
        )


class EraseVerificationError(SanitiserError):
    """Verification after a method showed that data may remain."""


class CertificateError(SanitiserError):
    """A certificate could not be issued, or does not verify."""


class RecordStoreError(SanitiserError):
    """The store could not read or write records."""


class DataDirectoryFullError(RecordStoreError):
    """No space is left on the disk of the data directory (the store, keys, checkpoints): the
    message starts ``data directory full``, the reason a job that stopped on it gives."""


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""What the system says when a disk (or the user's quota on it) has no room left."""


def is_disk_full(error: BaseException) -> bool:
    """True for an operating-system error saying the disk (or quota) is full."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def data_directory_full(error: OSError, what: str) -> DataDirectoryFullError:
    """The error to raise when writing `what` (a path in the data directory) found no room."""
    return DataDirectoryFullError(
        f"data directory full: {what} could not be written ({error.strerror or error}): "
        "free space on that disk"
    )
